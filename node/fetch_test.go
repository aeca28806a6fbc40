package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// fileNode encodes a dag-pb UnixFS file node linking to links, each
// holding the bytes sizes says, as chunk's encoder lays them out: links
// first, then the UnixFS data.
func fileNode(t *testing.T, links []cid.Cid, sizes []uint64) (cid.Cid, []byte) {
	t.Helper()
	var fs []byte
	var total uint64
	for _, s := range sizes {
		total += s
	}
	fs = protowire.AppendTag(fs, 1, protowire.VarintType)
	fs = protowire.AppendVarint(fs, chunk.TypeFile)
	fs = protowire.AppendTag(fs, 3, protowire.VarintType)
	fs = protowire.AppendVarint(fs, total)
	for _, s := range sizes {
		fs = protowire.AppendTag(fs, 4, protowire.VarintType)
		fs = protowire.AppendVarint(fs, s)
	}
	var out, lb []byte
	for _, l := range links {
		lb = protowire.AppendTag(lb[:0], 1, protowire.BytesType)
		lb = protowire.AppendBytes(lb, l.Bytes())
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, lb)
	}
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, fs)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := chunk.Verify(c, out); err != nil {
		t.Fatalf("hostile node is not well formed: %v", err)
	}
	return c, out
}

// hostileDAG builds the 4-block DAG that, walked without a visited set,
// queues hundreds of millions of CIDs: root links to n1 and n2, n2 has
// 20,000 links to n1, and n1 20,000 to one leaf.
func hostileDAG(t *testing.T) (cid.Cid, map[cid.Cid][]byte) {
	t.Helper()
	const fan = 20000
	leafData := []byte("one leaf, linked 400 million times")
	leaf, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, leafData)
	if err != nil {
		t.Fatal(err)
	}
	repeat := func(c cid.Cid, size uint64) ([]cid.Cid, []uint64) {
		ls, ss := make([]cid.Cid, fan), make([]uint64, fan)
		for i := range ls {
			ls[i], ss[i] = c, size
		}
		return ls, ss
	}
	ls, ss := repeat(leaf, uint64(len(leafData)))
	n1, n1Data := fileNode(t, ls, ss)
	n1Size := uint64(fan * len(leafData))
	ls, ss = repeat(n1, n1Size)
	n2, n2Data := fileNode(t, ls, ss)
	root, rootData := fileNode(t, []cid.Cid{n1, n2}, []uint64{n1Size, fan * n1Size})
	return root, map[cid.Cid][]byte{root: rootData, n1: n1Data, n2: n2Data, leaf: leafData}
}

// countingProvider speaks /cairn/block/1.0.0 from blocks and counts how
// often each CID is asked for.
func countingProvider(t *testing.T, blocks map[cid.Cid][]byte) (peer.AddrInfo, func() map[cid.Cid]int) {
	t.Helper()
	var mu sync.Mutex
	asked := map[cid.Cid]int{}
	h := rawHost(t)
	h.SetStreamHandler(exchange.ProtocolID, func(st network.Stream) {
		defer st.Close()
		cids, ok := readWant(st)
		if !ok {
			return
		}
		mu.Lock()
		for _, c := range cids {
			asked[c]++
		}
		mu.Unlock()
		writeBlocks(st, cids, func(c cid.Cid) []byte { return blocks[c] })
	})
	counts := func() map[cid.Cid]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[cid.Cid]int, len(asked))
		for c, n := range asked {
			out[c] = n
		}
		return out
	}
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, counts
}

func TestFetchOfAHostileDAGAsksForEachBlockOnce(t *testing.T) {
	root, blocks := hostileDAG(t)
	prov, asked := countingProvider(t, blocks)
	fetcher := startNode(t, withReplication(ReplicationConfig{Disabled: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fetcher.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := fetcher.Fetch(ctx, root, FetchOptions{Providers: []peer.ID{prov.ID}}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	got := asked()
	if len(got) != len(blocks) {
		t.Fatalf("%d distinct blocks asked for, want %d", len(got), len(blocks))
	}
	for c, n := range got {
		if _, ok := blocks[c]; !ok || n != 1 {
			t.Errorf("block %s asked for %d times (in the DAG: %v), want once", c, n, ok)
		}
	}
	if took > 10*time.Second {
		t.Fatalf("the fetch of 4 blocks took %v", took)
	}
	for c := range blocks {
		if has, err := fetcher.Store().Has(c); err != nil || !has {
			t.Fatalf("block %s not held after the fetch: %v, %v", c, has, err)
		}
	}

	// Held whole, the DAG is resolved from the store with nobody to ask.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := fetcher.Fetch(ctx2, root, FetchOptions{}); err != nil {
		t.Fatalf("fetch of the held hostile DAG: %v", err)
	}
}

func TestCancellingTheContextEndsAFetchPromptly(t *testing.T) {
	_, blocks, res := memFile(t, 36, 40*chunk.ChunkSize)
	gate, release := openGate()
	defer release()
	var held, maxHeld atomic.Int32
	// Only the root comes; every want of leaves is held until the gate
	// opens, which it does only once the test is over.
	prov := gatedProvider(t, blocks, map[string]bool{string(res.Root.Hash()): true}, gate, &held, &maxHeld)
	fetcher := startNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := fetcher.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fetcher.Fetch(ctx, res.Root, FetchOptions{Providers: []peer.ID{prov.ID}}) }()
	deadline := time.After(30 * time.Second)
	for held.Load() < 1 {
		select {
		case err := <-done:
			t.Fatalf("fetch ended before its wants were held: %v", err)
		case <-deadline:
			t.Fatal("no want reached the provider")
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("fetch after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fetch went on for 5s after its context was cancelled")
	}
}
