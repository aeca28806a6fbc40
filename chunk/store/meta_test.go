package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

// markKey is the key a test keeps beside a block, as the node keeps its
// replica-duty mark.
func markKey(c cid.Cid) []byte { return append([]byte("duty/"), c.Hash()...) }

func mustMeta(t *testing.T, s *store.Store, key, want []byte) {
	t.Helper()
	got, err := s.GetMeta(key)
	if err != nil {
		t.Fatalf("get meta %q: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("meta %q = %q, want %q", key, got, want)
	}
}

func mustNoMeta(t *testing.T, s *store.Store, key []byte) {
	t.Helper()
	if _, err := s.GetMeta(key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get meta %q = %v, want ErrNotFound", key, err)
	}
	if ok, err := s.HasMeta(key); err != nil || ok {
		t.Fatalf("has meta %q = %v, %v, want false", key, ok, err)
	}
}

// metaList is what ForEachMeta gives for prefix, as "key=value" strings.
func metaList(t *testing.T, s *store.Store, prefix string) []string {
	t.Helper()
	var out []string
	err := s.ForEachMeta(context.Background(), []byte(prefix), func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutWithMakesBlockAndMetaVisibleAtOnceAndDurableTogether(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, store.Options{})
			c, data := randomBlock(t, rand.New(rand.NewSource(30)), 5000)
			if err := s.PutWith(c, data, store.Meta{Key: markKey(c), Value: []byte("v1")}); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, c, data)
			mustMeta(t, s, markKey(c), []byte("v1")) // pending, not yet committed
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			mustMeta(t, s, markKey(c), []byte("v1"))
			if crash {
				store.Abandon(s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, store.Options{})
			mustGet(t, s, c, data)
			mustMeta(t, s, markKey(c), []byte("v1"))
		})
	}
}

func TestPutWithOfAHeldBlockStillWritesItsMeta(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	c, data := randomBlock(t, rand.New(rand.NewSource(31)), 5000)
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(store.Meta{Key: []byte("gone"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	err := s.PutWith(c, data, store.Meta{Key: markKey(c)}, store.Meta{Key: []byte("gone"), Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after.Blocks != before.Blocks {
		t.Fatalf("a held block was counted again: %+v -> %+v", before, after)
	}
	mustMeta(t, s, markKey(c), nil)
	mustNoMeta(t, s, []byte("gone"))
	// Not synced: recovery finds the meta-only group past the committed
	// length and replays it, the delete included.
	store.Abandon(s)
	s = openStore(t, dir, store.Options{})
	mustMeta(t, s, markKey(c), nil)
	mustNoMeta(t, s, []byte("gone"))
	if st := s.Stats(); st.Blocks != 1 {
		t.Fatalf("stats %+v, want the block once", st)
	}
}

func TestSyncWithMetaAloneCommitsIt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	steps := []struct {
		meta store.Meta
		want []byte // nil: absent
	}{
		{store.Meta{Key: []byte("k"), Value: []byte("one")}, []byte("one")},
		{store.Meta{Key: []byte("k"), Value: []byte("two")}, []byte("two")},
		{store.Meta{Key: []byte("k"), Delete: true}, nil},
		{store.Meta{Key: []byte("k"), Value: []byte("three")}, []byte("three")},
	}
	for i, st := range steps {
		if err := s.Sync(st.meta); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// Synced: it must outlive a crash straight after.
		store.Abandon(s)
		s = openStore(t, dir, store.Options{})
		if st.want == nil {
			mustNoMeta(t, s, []byte("k"))
		} else {
			mustMeta(t, s, []byte("k"), st.want)
		}
	}
	if st := s.Stats(); st.Blocks != 0 || st.SegmentBytes != 0 {
		t.Fatalf("meta given to Sync wrote to the segments: %+v", st)
	}
}

func TestDeleteWithMetaRemovesBlockAndMetaTogether(t *testing.T) {
	for _, committed := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, store.Options{})
			rng := rand.New(rand.NewSource(32))
			c, data := randomBlock(t, rng, 5000)
			other, otherData := randomBlock(t, rng, 5000)
			if err := s.PutWith(c, data, store.Meta{Key: markKey(c), Value: []byte("m")}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutWith(other, otherData, store.Meta{Key: markKey(other)}); err != nil {
				t.Fatal(err)
			}
			if committed {
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Delete(c, store.Meta{Key: markKey(c), Delete: true}); err != nil {
				t.Fatal(err)
			}
			check := func(s *store.Store) {
				t.Helper()
				if ok, _ := s.Has(c); ok {
					t.Fatal("deleted block is still held")
				}
				mustNoMeta(t, s, markKey(c))
				mustGet(t, s, other, otherData)
				mustMeta(t, s, markKey(other), nil)
			}
			check(s)
			// A block not held: ErrNotFound, and its meta is left alone.
			err := s.Delete(c, store.Meta{Key: markKey(other), Delete: true})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("delete of a missing block = %v, want ErrNotFound", err)
			}
			check(s)
			store.Abandon(s)
			s = openStore(t, dir, store.Options{})
			check(s)
		})
	}
}

func TestForEachMetaListsCommittedAndPendingOnceInKeyOrder(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	rng := rand.New(rand.NewSource(33))
	put := func(kv ...string) {
		t.Helper()
		c, data := randomBlock(t, rng, 100)
		var meta []store.Meta
		for i := 0; i < len(kv); i += 2 {
			m := store.Meta{Key: []byte(kv[i]), Value: []byte(kv[i+1])}
			m.Delete = kv[i+1] == "<delete>"
			if m.Delete {
				m.Value = nil
			}
			meta = append(meta, m)
		}
		if err := s.PutWith(c, data, meta...); err != nil {
			t.Fatal(err)
		}
	}
	// Committed: a/1..a/4, and b/1 outside the prefix.
	put("a/1", "c1", "a/3", "c3")
	if err := s.Sync(store.Meta{Key: []byte("a/4"), Value: []byte("c4")}, store.Meta{Key: []byte("b/1"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	put("a/2", "c2")
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Pending: a new key before, between and after the committed ones, a
	// new value for a/3, and a delete of a/4.
	put("a/0", "p0", "a/3", "p3")
	put("a/25", "p25", "a/4", "<delete>", "a/9", "p9")
	put("c/1", "x")

	want := []string{"a/0=p0", "a/1=c1", "a/2=c2", "a/25=p25", "a/3=p3", "a/9=p9"}
	if got := metaList(t, s, "a/"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pending and committed:\n got %v\nwant %v", got, want)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := metaList(t, s, "a/"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("all committed:\n got %v\nwant %v", got, want)
	}
	if got := metaList(t, s, ""); len(got) != len(want)+2 {
		t.Fatalf("empty prefix lists %v, want every key", got)
	}
	stop := errors.New("stop")
	n := 0
	err := s.ForEachMeta(context.Background(), []byte("a/"), func(k, v []byte) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: got %v after %d calls", err, n)
	}
}

func TestMetaRecordsAreGarbageOnceCommittedAndCompactionDropsThem(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	rng := rand.New(rand.NewSource(34))
	blocks := map[cid.Cid][]byte{}
	var metaBytes int64
	for i := 0; i < 10; i++ {
		c, data := randomBlock(t, rng, 20000)
		val := bytes.Repeat([]byte{byte(i)}, i*10)
		if err := s.PutWith(c, data, store.Meta{Key: markKey(c), Value: val}); err != nil {
			t.Fatal(err)
		}
		blocks[c] = data
		metaBytes += int64(16 + len(markKey(c)) + len(val))
	}
	if st := s.Stats(); st.Garbage != 0 {
		t.Fatalf("garbage %d before the commit, want 0", st.Garbage)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Garbage != metaBytes {
		t.Fatalf("garbage %d after the commit, want the %d bytes of meta records", st.Garbage, metaBytes)
	}
	before := segmentBytes(t, dir)
	if _, err := s.Compact(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if after := segmentBytes(t, dir); after != before-metaBytes {
		t.Fatalf("segments %d bytes after compaction, want %d - %d", after, before, metaBytes)
	}
	check := func(s *store.Store) {
		t.Helper()
		i := 0
		for c, data := range blocks {
			mustGet(t, s, c, data)
			if ok, err := s.HasMeta(markKey(c)); err != nil || !ok {
				t.Fatalf("mark of %s: %v, %v", c, ok, err)
			}
			i++
		}
		if st := s.Stats(); st.Garbage != 0 || st.Blocks != int64(len(blocks)) {
			t.Fatalf("stats %+v, want %d blocks and no garbage", st, len(blocks))
		}
	}
	check(s)
	// Recovery after a crash must not take the copies for groups.
	store.Abandon(s)
	s = openStore(t, dir, store.Options{})
	check(s)
}

func TestMetaOutsideTheLimitsIsRefused(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	c, data := randomBlock(t, rand.New(rand.NewSource(35)), 100)
	cases := []struct {
		name string
		m    store.Meta
	}{
		{"empty key", store.Meta{Value: []byte("v")}},
		{"key over 4 KiB", store.Meta{Key: make([]byte, 4097)}},
		{"value over 1 MiB", store.Meta{Key: []byte("k"), Value: make([]byte, 1<<20+1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutWith(c, data, tc.m); err == nil {
				t.Fatal("PutWith took it")
			}
			if err := s.Sync(tc.m); err == nil {
				t.Fatal("Sync took it")
			}
			if ok, _ := s.Has(c); ok {
				t.Fatal("the block went in without its meta")
			}
		})
	}
}
