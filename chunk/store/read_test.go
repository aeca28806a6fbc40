package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

func TestGetBufferReadsIntoTheCallersBufferWhenItFits(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	rng := rand.New(rand.NewSource(9))
	small, smallData := randomBlock(t, rng, 1000)
	big, bigData := randomBlock(t, rng, chunk.ChunkSize)
	if err := s.Put(small, smallData); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(big, bigData); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Too small a buffer: a new one, returned for reuse.
	data, buf, err := s.GetBuffer(ctx, big, make([]byte, 10))
	if err != nil || !bytes.Equal(data, bigData) {
		t.Fatalf("get into a small buffer: %d bytes, %v", len(data), err)
	}
	if cap(buf) < len(bigData) {
		t.Fatalf("returned buffer holds %d bytes, less than the block", cap(buf))
	}
	// A buffer that fits is used: the bytes alias it.
	data, buf2, err := s.GetBuffer(ctx, small, buf)
	if err != nil || !bytes.Equal(data, smallData) {
		t.Fatalf("get into a large buffer: %d bytes, %v", len(data), err)
	}
	if &buf2[0] != &buf[0] || &data[0] != &buf[:cap(buf)][cap(buf)-cap(data)] {
		t.Fatal("the block was not read into the buffer given")
	}
	// Before and after a commit (pending, then indexed).
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if data, _, err = s.GetBuffer(ctx, big, buf2); err != nil || !bytes.Equal(data, bigData) {
		t.Fatalf("get after sync: %d bytes, %v", len(data), err)
	}
	// A missing block gives ErrNotFound and the buffer back.
	missing, _ := randomBlock(t, rng, 10)
	if _, back, err := s.GetBuffer(ctx, missing, buf2); !errors.Is(err, store.ErrNotFound) || &back[0] != &buf2[0] {
		t.Fatalf("get of a missing block: %v", err)
	}
}

// Reads run outside the store's lock; compaction moving the blocks they
// read and closing the old segments under them, and Close, must never
// make one fail with anything but ErrClosed, or return wrong bytes.
func TestReadsDuringCompactionAndCloseNeverSeeCorruption(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{SegmentSize: 1 << 20, CommitEvery: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(13))
	type block struct {
		c    cid.Cid
		data []byte
	}
	var live, doomed []block
	for i := 0; i < 120; i++ {
		c, data := randomBlock(t, rng, 20<<10+rng.Intn(40<<10))
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			live = append(live, block{c, data})
		} else {
			doomed = append(doomed, block{c, data})
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stop := make(chan struct{})
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []byte
			for i := w; ; i++ {
				b := live[i%len(live)]
				var data []byte
				var err error
				data, buf, err = s.GetBuffer(ctx, b.c, buf)
				switch {
				case errors.Is(err, store.ErrClosed):
					return
				case err != nil:
					errc <- err
					return
				case !bytes.Equal(data, b.data):
					errc <- fmt.Errorf("read of %s returned other bytes", b.c)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}(w)
	}
	// Delete a few blocks at a time and compact, so that every segment
	// is rewritten (its live blocks moved) again and again.
	for len(doomed) > 0 {
		n := min(10, len(doomed))
		for _, b := range doomed[:n] {
			if err := s.Delete(b.c); err != nil {
				t.Fatal(err)
			}
		}
		doomed = doomed[n:]
		if _, err := s.Compact(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Put more while reading, then close under the readers.
	for i := 0; i < 20; i++ {
		c, data := randomBlock(t, rng, 30<<10)
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}
