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

// gatedProvider speaks /cairn/block/1.0.0 from memory: it answers the
// first `free` wants at once and holds every later one until gate closes.
func gatedProvider(t *testing.T, blocks *memBlocks, free int, gate <-chan struct{}) peer.AddrInfo {
	t.Helper()
	h := rawHost(t)
	var mu sync.Mutex
	served := 0
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
		mu.Lock()
		served++
		wait := served > free
		mu.Unlock()
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
	// The root, then the first batch of leaves; the rest waits for the gate.
	prov := gatedProvider(t, blocks, 2, gate)
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
	if st := reader.Store().Stats(); st.Blocks >= 42 {
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
