package store_test

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
)

// A dead record whose header rotted (its flags byte here, as the bitrot
// simulation hit it) must not stop a compaction: the CRC says it is rot,
// and a dead record is not copied anyway. A rotted live record is still
// reported corrupt after the compaction.
func TestCompactionWalksPastRottedHeaders(t *testing.T) {
	for _, off := range []int64{10, 11} { // the two bytes of the flags field
		dir := t.TempDir()
		s := openStore(t, dir, store.Options{SegmentSize: 1 << 20})
		rng := rand.New(rand.NewSource(off))
		dead, deadData := randomBlock(t, rng, 3000)
		live, liveData := randomBlock(t, rng, 5000)
		if err := s.Put(dead, deadData); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(live, liveData); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(dead); err != nil {
			t.Fatal(err)
		}
		// The dead block's record is the segment's first.
		seg := filepath.Join(dir, "00000001.seg")
		f, err := os.OpenFile(seg, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, off)
		f.WriteAt([]byte{b[0] ^ 0x44}, off)
		f.Close()
		if _, err := s.Compact(context.Background(), 0); err != nil {
			t.Fatalf("flags byte %d rotted in a dead record: compaction: %v", off, err)
		}
		mustGet(t, s, live, liveData)
	}
}

// A read error from the disk is not rot: the block is not reported
// corrupt (a reader or the scrubber would drop it), stays indexed, and
// reads back once the error stops.
func TestATransientReadErrorIsNotCorruption(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	rng := rand.New(rand.NewSource(3))
	c, data := randomBlock(t, rng, 4096)
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	store.SetReadFault(eio)
	_, err := s.Get(context.Background(), c)
	store.SetReadFault(nil)
	if err == nil || errors.Is(err, store.ErrCorrupt) || !errors.Is(err, eio) {
		t.Fatalf("read during the fault: %v, want the I/O error and not ErrCorrupt", err)
	}
	if ok, err := s.Has(c); err != nil || !ok {
		t.Fatalf("after the fault the block is not indexed (%v)", err)
	}
	mustGet(t, s, c, data)
}
