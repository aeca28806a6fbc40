package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

type memBlocks struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlocks) PutHashed(c cid.Cid, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[string(c.Hash())] = append([]byte(nil), data...)
	return nil
}

type memGetter struct{ b *memBlocks }

func (g memGetter) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	g.b.mu.Lock()
	defer g.b.mu.Unlock()
	d, ok := g.b.m[string(c.Hash())]
	if !ok {
		return nil, io.ErrUnexpectedEOF
	}
	return d, nil
}

// memFile adds size random bytes (from seed) to a memory block store.
func memFile(t *testing.T, seed int64, size int) ([]byte, *memBlocks, chunk.AddResult) {
	t.Helper()
	data := randomData(t, seed, size)
	blocks := &memBlocks{m: map[string][]byte{}}
	res, err := chunk.Add(context.Background(), bytes.NewReader(data), blocks, chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return data, blocks, res
}

// streamFrom connects n to prov and opens a stream of root that asks prov
// first; the stream is closed when the test ends.
func streamFrom(t *testing.T, ctx context.Context, n *Node, prov peer.AddrInfo, root cid.Cid) *Stream {
	t.Helper()
	if err := n.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	s, err := n.Stream(ctx, root, FetchOptions{Providers: []peer.ID{prov.ID}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openGate returns a gate and the function that opens it, safe to call
// again (defer it, so that a failed test does not leave a want held).
func openGate() (chan struct{}, func()) {
	gate := make(chan struct{})
	var once sync.Once
	return gate, func() { once.Do(func() { close(gate) }) }
}

// gatedProvider speaks /cairn/block/1.0.0 from memory: it answers at once
// the wants that ask for a block in free, and holds every other want until
// gate closes. (Streams are handled concurrently, so gating by arrival
// order would not say which want gets through.) held, if not nil, counts
// the wants held at the gate, and maxHeld the most held at once.
func gatedProvider(t *testing.T, blocks *memBlocks, free map[string]bool, gate <-chan struct{}, held, maxHeld *atomic.Int32) peer.AddrInfo {
	t.Helper()
	h := rawHost(t)
	h.SetStreamHandler(exchange.ProtocolID, func(st network.Stream) {
		defer st.Close()
		cids, ok := readWant(st)
		if !ok {
			return
		}
		wait := true
		for _, c := range cids {
			if free[string(c.Hash())] {
				wait = false
			}
		}
		if wait {
			if held != nil {
				now := held.Add(1)
				for m := maxHeld.Load(); now > m && !maxHeld.CompareAndSwap(m, now); m = maxHeld.Load() {
				}
				defer held.Add(-1)
			}
			<-gate
		}
		writeBlocks(st, cids, func(c cid.Cid) []byte {
			blocks.mu.Lock()
			defer blocks.mu.Unlock()
			return blocks.m[string(c.Hash())]
		})
	})
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// readWant reads the want frame a hand-made provider is sent and returns
// its CIDs; a stream that sends anything else is reset.
func readWant(st network.Stream) ([]cid.Cid, bool) {
	r := bufio.NewReader(st)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		st.Reset()
		return nil, false
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil || frame[0] != 0x01 {
		st.Reset()
		return nil, false
	}
	var cids []cid.Cid
	for body := frame[1:]; len(body) > 0; {
		l, k := binary.Uvarint(body)
		c, _ := cid.Cast(body[k : k+int(l)])
		body = body[k+int(l):]
		cids = append(cids, c)
	}
	return cids, true
}

// writeBlocks answers a want with a block frame for each CID, in order,
// its bytes from data.
func writeBlocks(st network.Stream, cids []cid.Cid, data func(cid.Cid) []byte) {
	w := bufio.NewWriter(st)
	for _, c := range cids {
		reply := append([]byte{0x11}, binary.AppendUvarint(nil, uint64(len(c.Bytes())))...)
		reply = append(append(reply, c.Bytes()...), data(c)...)
		w.Write(binary.AppendUvarint(nil, uint64(len(reply))))
		w.Write(reply)
	}
	w.Flush()
}

func TestStreamServesTheFirstBytesBeforeTheLastBlockArrives(t *testing.T) {
	data, blocks, res := memFile(t, 31, 40*chunk.ChunkSize+123)
	gate, release := openGate()
	defer release()
	// The root and the want holding the first leaf go through; the rest
	// waits for the gate.
	var firstLeaf cid.Cid
	chunk.WalkCIDs(context.Background(), memGetter{blocks}, res.Root, func(c cid.Cid) error {
		if !firstLeaf.Defined() && c.Type() == cid.Raw {
			firstLeaf = c
		}
		return nil
	})
	prov := gatedProvider(t, blocks, map[string]bool{string(res.Root.Hash()): true, string(firstLeaf.Hash()): true}, gate, nil, nil)
	reader := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := streamFrom(t, ctx, reader, prov, res.Root)
	first := make([]byte, 1000)
	if _, err := io.ReadFull(s, first); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, data[:1000]) {
		t.Fatal("first bytes differ")
	}
	if st := reader.Store().Stats(); st.Blocks >= 42 { // 41 leaves and the root
		t.Fatalf("the whole file (%d blocks) was here before the first bytes were read", st.Blocks)
	}
	release()
	rest, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), data) {
		t.Fatal("streamed file differs")
	}
}

func TestFetchKeepsNoMoreWantsInFlightThanMaxWants(t *testing.T) {
	data, blocks, res := memFile(t, 32, 40*chunk.ChunkSize) // three wants' worth of leaves
	gate, release := openGate()
	defer release()
	var held, maxHeld atomic.Int32
	prov := gatedProvider(t, blocks, map[string]bool{string(res.Root.Hash()): true}, gate, &held, &maxHeld)
	fetcher := startNode(t, func(c *Config) { c.MaxWants = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fetcher.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fetcher.Fetch(ctx, res.Root, FetchOptions{Providers: []peer.ID{prov.ID}}) }()
	for held.Load() < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("no want reached the provider")
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	// Without the bound the other wants follow within microseconds; give
	// them ample time to show up before letting the first one through.
	select {
	case err := <-done:
		t.Fatalf("fetch ended while its want was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := maxHeld.Load(); m != 1 {
		t.Fatalf("%d wants were in flight at once with MaxWants 1", m)
	}
	if got := readAll(t, fetcher, res.Root); !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
}

func TestStreamReadsTheEndOfAFileBeforeTheFetchGetsThere(t *testing.T) {
	data, blocks, res := memFile(t, 33, 40*chunk.ChunkSize)
	var leaves []cid.Cid
	chunk.WalkCIDs(context.Background(), memGetter{blocks}, res.Root, func(c cid.Cid) error {
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		}
		return nil
	})
	last := leaves[len(leaves)-1]
	// Wants for the root or the last leaf are answered; the fetch's
	// in-order wants of the first leaves are held.
	gate, release := openGate()
	defer release()
	prov := gatedProvider(t, blocks, map[string]bool{string(res.Root.Hash()): true, string(last.Hash()): true}, gate, nil, nil)
	reader := startNode(t, func(c *Config) { c.FetchWindow = 1 })
	// A held want is given up on only after this, which then lets the
	// fetch reach the end on its own: longer than the test may take.
	reader.client.StallTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := streamFrom(t, ctx, reader, prov, res.Root)
	at := int64(len(data) - 100)
	if _, err := s.Seek(at, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100)
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("reading the last 100 bytes while the first leaves are held: %v", err)
	}
	if !bytes.Equal(got, data[at:]) {
		t.Fatal("last bytes differ")
	}
	if has, _ := reader.Store().Has(leaves[0]); has {
		t.Fatal("the first leaf arrived although its want was held")
	}
}

func TestFetchWaitingForAWantSlotIsNotStalled(t *testing.T) {
	dataA, blocks, resA := memFile(t, 34, 20*chunk.ChunkSize)
	dataB, blocksB, resB := memFile(t, 35, 20*chunk.ChunkSize)
	free := map[string]bool{string(resA.Root.Hash()): true}
	for k, v := range blocksB.m {
		blocks.m[k] = v
		free[k] = true
	}
	gate, release := openGate()
	defer release()
	var held, maxHeld atomic.Int32
	prov := gatedProvider(t, blocks, free, gate, &held, &maxHeld)
	fetcher := startNode(t, func(c *Config) { c.MaxWants = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fetcher.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	opts := FetchOptions{Providers: []peer.ID{prov.ID}, StallTimeout: 300 * time.Millisecond}
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- fetcher.Fetch(ctx, resA.Root, FetchOptions{Providers: opts.Providers}) }()
	for held.Load() < 1 { // A's leaves now hold the node's one want slot
		select {
		case <-ctx.Done():
			t.Fatal("no want of A reached the provider")
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	go func() { doneB <- fetcher.Fetch(ctx, resB.Root, opts) }()
	// B waits for the slot far past its stall timeout.
	select {
	case err := <-doneB:
		t.Fatalf("B ended while it waited for a want slot: %v", err)
	case <-time.After(time.Second):
	}
	release()
	for name, done := range map[string]chan error{"A": doneA, "B": doneB} {
		if err := <-done; err != nil {
			t.Fatalf("fetch %s: %v", name, err)
		}
	}
	for _, f := range []struct {
		data []byte
		root cid.Cid
	}{{dataA, resA.Root}, {dataB, resB.Root}} {
		if got := readAll(t, fetcher, f.root); !bytes.Equal(got, f.data) {
			t.Fatal("fetched bytes differ")
		}
	}
}
