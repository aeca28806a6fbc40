package store_test

import (
	"context"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

func TestMarkHoldsUntilABlockIsIndexedOrDeletedAcrossReopenAndCrash(t *testing.T) {
	type env struct {
		t    *testing.T
		dir  string
		s    *store.Store
		rng  *rand.Rand
		held []cid.Cid
	}
	put := func(e *env, sync bool) {
		c, data := randomBlock(e.t, e.rng, 3000)
		if err := e.s.Put(c, data); err != nil {
			e.t.Fatal(err)
		}
		if sync {
			if err := e.s.Sync(); err != nil {
				e.t.Fatal(err)
			}
		}
		e.held = append(e.held, c)
	}
	reopen := func(e *env) {
		e.s.Close()
		e.s = openStore(e.t, e.dir, store.Options{})
	}
	tests := []struct {
		name       string
		afterMark  func(e *env)
		wantMarked bool
	}{
		{"nothing written", func(e *env) {}, true},
		{"nothing written, reopened", reopen, true},
		{"a block put and synced", func(e *env) { put(e, true); reopen(e) }, false},
		{"a block deleted", func(e *env) {
			if err := e.s.Delete(e.held[0]); err != nil {
				e.t.Fatal(err)
			}
			reopen(e)
		}, false},
		{"a block put, then a crash before its commit (recovery indexes it)", func(e *env) {
			put(e, false)
			store.Abandon(e.s)
			e.s = openStore(e.t, e.dir, store.Options{})
		}, false},
		{"only a compaction's moves", func(e *env) {
			if _, err := e.s.Compact(context.Background(), 0); err != nil {
				e.t.Fatal(err)
			}
			reopen(e)
		}, true},
		{"a re-sync with nothing pending", func(e *env) {
			if err := e.s.Sync(); err != nil {
				e.t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{t: t, dir: t.TempDir(), rng: rand.New(rand.NewSource(9))}
			e.s = openStore(t, e.dir, store.Options{})
			if e.s.Marked() {
				t.Fatal("a new store is marked: its first start would skip announcing")
			}
			for i := 0; i < 3; i++ {
				put(e, true)
			}
			// Garbage for the compaction case to move blocks around.
			if err := e.s.Delete(e.held[2]); err != nil {
				t.Fatal(err)
			}
			e.held = e.held[:2]
			if err := e.s.Mark(); err != nil {
				t.Fatal(err)
			}
			tt.afterMark(e)
			if got := e.s.Marked(); got != tt.wantMarked {
				t.Fatalf("marked = %v, want %v", got, tt.wantMarked)
			}
		})
	}
}

func TestMarkRefusesWhilePutsAreUncommitted(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	c, data := randomBlock(t, rand.New(rand.NewSource(1)), 100)
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(); err == nil {
		t.Fatal("Mark over an uncommitted put succeeded")
	}
	if s.Marked() {
		t.Fatal("marked after a refused Mark")
	}
}
