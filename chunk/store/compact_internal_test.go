package store

import (
	"context"
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// A block record written in a PutWith group carries flagMore; its copy
// made by compaction stands alone and must not, or recovery, finding the
// copy past the committed length after a crash, would wait for a group end
// that never comes and cut the copy and everything after it.
func TestCompactionCopiesOfGroupedBlocksStandAlone(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(50))
	var cids []cid.Cid
	for i := 0; i < 3; i++ {
		data := make([]byte, 10<<10)
		rng.Read(data)
		c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWith(c, data, Meta{Key: []byte{byte(i)}, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	flagsOf := func(c cid.Cid) (uint16, loc) {
		t.Helper()
		s.mu.RLock()
		l, sg, err := s.findLocked(c.Hash())
		s.mu.RUnlock()
		if err != nil {
			t.Fatal(err)
		}
		hdr := make([]byte, headerSize)
		if _, err := sg.f.ReadAt(hdr, l.off); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint16(hdr[10:]), l
	}
	if f, _ := flagsOf(cids[0]); f != flagMore {
		t.Fatalf("grouped block record has flags %#x, want flagMore", f)
	}
	if st, err := s.Compact(context.Background(), 0); err != nil || st.Moved != 3 {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	for _, c := range cids {
		f, l := flagsOf(c)
		if f != 0 {
			t.Fatalf("copy of %s at %+v has flags %#x, want none", c, l, f)
		}
		if _, err := s.Get(context.Background(), c); err != nil {
			t.Fatalf("copy of %s: %v", c, err)
		}
	}
}
