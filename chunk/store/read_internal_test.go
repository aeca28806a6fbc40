package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// The step getHash's retry rests on: a segment that compaction closed
// after a block was looked up gives errSegmentClosed (not ErrCorrupt,
// which would make a reader drop a good block), and a second look finds
// the block where compaction moved it.
func TestAReadOfASegmentCompactedAwayAfterTheLookUpSaysSo(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(17))
	block := func() (cid.Cid, []byte) {
		data := make([]byte, 50<<10)
		rng.Read(data)
		c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		return c, data
	}
	keep, keepData := block()
	gone, _ := block()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	l, sg, err := s.findLocked(keep.Hash())
	s.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(gone); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Compact(context.Background(), 0); err != nil || st.Segments != 1 {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	if _, _, _, err := readRecord(sg, l, nil); !errors.Is(err, errSegmentClosed) {
		t.Fatalf("read of the old location = %v, want errSegmentClosed", err)
	}
	data, _, err := s.getHash(keep.Hash(), nil)
	if err != nil || !bytes.Equal(data, keepData) {
		t.Fatalf("read after compaction: %v", err)
	}
}
