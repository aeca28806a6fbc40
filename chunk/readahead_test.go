package chunk_test

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
)

// bufGetter serves a memSink through chunk.BufferGetter, copying each
// block into the buffer it is given as the store does, and counts the
// buffers it had to make and the leaf reads in flight.
type bufGetter struct {
	*memSink
	allocs   atomic.Int64
	leaves   atomic.Int64 // leaf reads started
	inflight atomic.Int64
	gate     chan struct{}   // if set, leaf reads wait for it (or the context)
	free     map[string]bool // leaves that need not wait at the gate
}

func (g *bufGetter) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	if c.Type() == cid.Raw {
		g.leaves.Add(1)
		g.inflight.Add(1)
		defer g.inflight.Add(-1)
		if g.gate != nil && !g.free[c.KeyString()] {
			select {
			case <-g.gate:
			case <-ctx.Done():
				return nil, buf, ctx.Err()
			}
		}
	}
	data, err := g.memSink.Get(ctx, c)
	if err != nil {
		return nil, buf, err
	}
	if cap(buf) < len(data) {
		g.allocs.Add(1)
		buf = make([]byte, len(data))
	}
	// Scribble over the whole buffer first, so a reader that kept using a
	// buffer it had handed back would read garbage.
	buf = buf[:cap(buf)]
	for i := range buf {
		buf[i] = 0xa5
	}
	return buf[:copy(buf, data)], buf, nil
}

func TestReadAheadReadsTheSameBytesAndReusesItsBuffers(t *testing.T) {
	for _, size := range []int64{
		0, 1, chunk.ChunkSize, 3*chunk.ChunkSize + 12345, chunk.MaxLinks*chunk.ChunkSize + 3*chunk.ChunkSize + 17,
	} {
		data := chunktest.VectorBytes(size)
		sink, res := addBytes(t, data)
		g := &bufGetter{memSink: sink}
		r, err := chunk.NewReader(context.Background(), g, res.Root)
		if err != nil {
			t.Fatal(err)
		}
		r.SetReadAhead(3)
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back differs", size)
		}
		// The queue, the current leaf and one being read; the first leaf
		// of each subtree may come before a buffer is free again.
		if a := g.allocs.Load(); a > 3+2+2 {
			t.Fatalf("%d bytes: %d leaf buffers made, want a few reused", size, a)
		}
	}
}

func TestSeeksDuringReadAheadReturnTheRightBytes(t *testing.T) {
	data := chunktest.VectorBytes(chunk.MaxLinks*chunk.ChunkSize + 7*chunk.ChunkSize + 99)
	sink, res := addBytes(t, data)
	for _, getter := range []chunk.BlockGetter{sink, &bufGetter{memSink: sink}} {
		r, err := chunk.NewReader(context.Background(), getter, res.Root)
		if err != nil {
			t.Fatal(err)
		}
		r.SetReadAhead(4)
		rng := rand.New(rand.NewSource(5))
		cs := int64(chunk.ChunkSize)
		for i := 0; i < 200; i++ {
			// Mostly runs across several leaves (which start read-ahead),
			// then a jump: back, forward past the queue, or into it.
			off := rng.Int63n(int64(len(data)))
			switch i % 4 {
			case 1:
				off = (off / cs) * cs // a leaf's first byte
			case 2:
				off = int64(chunk.MaxLinks)*cs - cs/2 // across a subtree boundary
			}
			if _, err := r.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			n := min(rng.Int63n(4*cs)+1, int64(len(data))-off)
			got := make([]byte, n)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatalf("read %d at %d: %v", n, off, err)
			}
			if !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("read %d at %d: bytes differ", n, off)
			}
		}
		r.Close()
	}
}

func TestReadAheadIsOffByDefaultAndBoundedWhenOn(t *testing.T) {
	data := chunktest.VectorBytes(20 * chunk.ChunkSize)
	sink, res := addBytes(t, data)
	cs := chunk.ChunkSize
	for _, ahead := range []int{0, 2} {
		g := &bufGetter{memSink: sink}
		r, err := chunk.NewReader(context.Background(), g, res.Root)
		if err != nil {
			t.Fatal(err)
		}
		r.SetReadAhead(ahead)
		// A range of one leaf, then one that runs into the next leaf.
		r.Seek(int64(5*cs+10), io.SeekStart)
		if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if n := g.leaves.Load(); n != 1 {
			t.Fatalf("read-ahead %d: a range inside one leaf read %d leaves", ahead, n)
		}
		if _, err := io.ReadFull(r, make([]byte, cs)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if n := g.leaves.Load(); n != int64(2+ahead) {
			t.Fatalf("read-ahead %d: a range over two leaves read %d leaves, want %d", ahead, n, 2+ahead)
		}
	}
}

func TestCloseWaitsForTheReadAheadInFlight(t *testing.T) {
	data := chunktest.VectorBytes(10 * chunk.ChunkSize)
	sink, res := addBytes(t, data)
	// The first two leaves are read at once; any other waits at the gate
	// (which never opens) until the context ends.
	free := map[string]bool{}
	chunk.WalkCIDs(context.Background(), sink, res.Root, func(c cid.Cid) error {
		if c.Type() == cid.Raw && len(free) < 2 {
			free[c.KeyString()] = true
		}
		return nil
	})
	g := &bufGetter{memSink: sink, gate: make(chan struct{}), free: free}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := chunk.NewReader(ctx, g, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	r.SetReadAhead(3)
	// Into the second leaf: a sequential read, which reads ahead three.
	if _, err := io.ReadFull(r, make([]byte, chunk.ChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.inflight.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d leaf reads in flight, want 3 read ahead", g.inflight.Load())
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	closed := make(chan struct{})
	go func() {
		r.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while read-ahead was still reading")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-closed
	if n := g.inflight.Load(); n != 0 {
		t.Fatalf("%d leaf reads still in flight after Close", n)
	}
	if n := g.leaves.Load(); n != 5 {
		t.Fatalf("%d leaf reads, want the 2 read and 3 ahead", n)
	}
	// After Close the reader still reads, without reading ahead.
	r2, err := chunk.NewReader(context.Background(), &bufGetter{memSink: sink}, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	r2.SetReadAhead(3)
	r2.Close()
	if got, err := io.ReadAll(r2); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after Close: %d bytes, %v", len(got), err)
	}
}

func TestReadAheadStopsAtTheEndOfARangeUntilASeek(t *testing.T) {
	data := chunktest.VectorBytes(20 * chunk.ChunkSize)
	sink, res := addBytes(t, data)
	cs := chunk.ChunkSize
	g := &bufGetter{memSink: sink}
	r, err := chunk.NewReader(context.Background(), g, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetReadAhead(4)
	// A range over leaves 5, 6 and 7, as the gateway serves one.
	start, length := 5*cs+10, 2*cs
	r.Seek(int64(start), io.SeekStart)
	r.ReadAheadUntil(int64(length))
	got := make([]byte, length)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[start:start+length]) {
		t.Fatal("range bytes differ")
	}
	if n := g.leaves.Load(); n != 3 {
		t.Fatalf("a range over 3 leaves read %d leaves", n)
	}
	// After a seek the reader reads ahead again.
	r.Seek(int64(10*cs), io.SeekStart)
	if _, err := io.ReadFull(r, make([]byte, cs+1)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if n := g.leaves.Load(); n != 3+2+4 {
		t.Fatalf("after the seek: %d leaves read in all, want %d", n, 3+2+4)
	}
}
