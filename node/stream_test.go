package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync"
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

// gatedProvider speaks /cairn/block/1.0.0 from memory: it answers at once
// the wants that ask for a block in free, and holds every other want until
// gate closes. (Streams are handled concurrently, so gating by arrival
// order would not say which want gets through.)
func gatedProvider(t *testing.T, blocks *memBlocks, free map[string]bool, gate <-chan struct{}) peer.AddrInfo {
	t.Helper()
	h := rawHost(t)
	h.SetStreamHandler(exchange.ProtocolID, func(st network.Stream) {
		defer st.Close()
		r := bufio.NewReader(st)
		n, err := binary.ReadUvarint(r)
		if err != nil {
			st.Reset()
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil || frame[0] != 0x01 {
			st.Reset()
			return
		}
		wait := true
		for body := frame[1:]; len(body) > 0; {
			l, k := binary.Uvarint(body)
			c, _ := cid.Cast(body[k : k+int(l)])
			body = body[k+int(l):]
			if free[string(c.Hash())] {
				wait = false
			}
		}
		if wait {
			<-gate
		}
		w := bufio.NewWriter(st)
		for body := frame[1:]; len(body) > 0; {
			l, k := binary.Uvarint(body)
			c, _ := cid.Cast(body[k : k+int(l)])
			body = body[k+int(l):]
			blocks.mu.Lock()
			data := blocks.m[string(c.Hash())]
			blocks.mu.Unlock()
			reply := append([]byte{0x11}, binary.AppendUvarint(nil, uint64(len(c.Bytes())))...)
			reply = append(append(reply, c.Bytes()...), data...)
			w.Write(binary.AppendUvarint(nil, uint64(len(reply))))
			w.Write(reply)
		}
		w.Flush()
	})
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

func TestStreamServesTheFirstBytesBeforeTheLastBlockArrives(t *testing.T) {
	data := randomData(t, 31, 40*chunk.ChunkSize+123)
	blocks := &memBlocks{m: map[string][]byte{}}
	res, err := chunk.Add(context.Background(), bytes.NewReader(data), blocks, chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(gate)
		}
	}()
	// The root and the want holding the first leaf go through; the rest
	// waits for the gate.
	var firstLeaf cid.Cid
	chunk.WalkCIDs(context.Background(), memGetter{blocks}, res.Root, func(c cid.Cid) error {
		if !firstLeaf.Defined() && c.Type() == cid.Raw {
			firstLeaf = c
		}
		return nil
	})
	prov := gatedProvider(t, blocks, map[string]bool{string(res.Root.Hash()): true, string(firstLeaf.Hash()): true}, gate)
	reader := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := reader.Connect(ctx, prov); err != nil {
		t.Fatal(err)
	}
	s, err := reader.Stream(ctx, res.Root, FetchOptions{Providers: []peer.ID{prov.ID}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	close(gate)
	released = true
	rest, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), data) {
		t.Fatal("streamed file differs")
	}
}
