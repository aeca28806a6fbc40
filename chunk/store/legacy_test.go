package store_test

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/syndtr/goleveldb/leveldb"
)

// A repo written before the store carried caller metadata kept pins under
// "p/" and duty marks under "d/"; opening it moves them to the node's
// keys, so an upgrade loses no pin.
func TestOpenMovesLegacyPinsAndDutyMarksToCallerKeys(t *testing.T) {
	dir := t.TempDir()
	c, data := randomBlock(t, rand.New(rand.NewSource(1)), 1000)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := leveldb.OpenFile(filepath.Join(dir, "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Put(append([]byte("p/"), c.Bytes()...), nil, nil)
	db.Put(append([]byte("d/"), c.Hash()...), nil, nil)
	db.Close()

	for round := range 2 { // and a second open finds nothing left to move
		s, err = store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range [][]byte{append([]byte("pin/"), c.Bytes()...), append([]byte("duty/"), c.Hash()...)} {
			if ok, err := s.HasMeta(k); err != nil || !ok {
				t.Fatalf("round %d: %q not moved (%v, %v)", round, k[:4], ok, err)
			}
		}
		n := 0
		s.ForEachMeta(context.Background(), nil, func(_, _ []byte) error { n++; return nil })
		if n != 2 {
			t.Fatalf("round %d: %d caller keys, want 2", round, n)
		}
		if ok, _ := s.Has(c); !ok {
			t.Fatalf("round %d: block lost", round)
		}
		s.Close()
	}
}
