package refs

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb"
)

func open(t *testing.T, dir string) (*Index, *leveldb.DB) {
	t.Helper()
	db, err := leveldb.OpenFile(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(db), db
}

func keys(t *testing.T, prefix string, n int) []mh.Multihash {
	t.Helper()
	out := make([]mh.Multihash, n)
	for i := range out {
		k, err := mh.Sum(fmt.Appendf(nil, "%s%d", prefix, i), mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = k
	}
	return out
}

func referenced(t *testing.T, x *Index, k mh.Multihash) bool {
	t.Helper()
	ok, err := x.Referenced(k)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestASharedBlockStaysReferencedUntilItsLastRootExpires(t *testing.T) {
	dir := t.TempDir()
	x, db := open(t, dir)
	shared := keys(t, "shared", 1500) // more than a page
	onlyA := keys(t, "a", 700)
	rootA, rootB := cid.NewCidV1(cid.DagProtobuf, onlyA[0]), cid.NewCidV1(cid.DagProtobuf, shared[0])
	if err := x.Add(rootA, append(append([]mh.Multihash{}, shared...), onlyA...)); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(rootB, shared); err != nil {
		t.Fatal(err)
	}
	var listed int
	if err := x.Keys(rootA, func(mh.Multihash) error { listed++; return nil }); err != nil || listed != 2200 {
		t.Fatalf("root A lists %d keys (%v), want 2200", listed, err)
	}
	t0 := time.Unix(1000, 0)
	if err := x.Unpin(rootA, t0); err != nil {
		t.Fatal(err)
	}
	// Within the grace nothing goes, and A's blocks are no longer pinned.
	if gone, err := x.Expire(t0.Add(time.Minute-1), time.Minute); err != nil || len(gone) != 0 {
		t.Fatalf("expired %v (%v) within the grace", gone, err)
	}
	if !referenced(t, x, onlyA[5]) {
		t.Error("a block of an unpinned root lost its reference within the grace")
	}
	if ok, _ := x.Pinned(onlyA[5]); ok {
		t.Error("a block only an unpinned root reaches counts as pinned")
	}
	if ok, _ := x.Pinned(shared[5]); !ok {
		t.Error("a block B still pins does not count as pinned")
	}
	// Reopened (a crash or restart), the state is as it was.
	db.Close()
	x, db = open(t, dir)
	defer db.Close()
	gone, err := x.Expire(t0.Add(time.Minute), time.Minute)
	if err != nil || len(gone) != 1 || !gone[0].Equals(rootA) {
		t.Fatalf("expired %v (%v), want root A", gone, err)
	}
	for _, k := range onlyA {
		if referenced(t, x, k) {
			t.Fatalf("block %s of expired root A still referenced", k.B58String())
		}
	}
	for _, k := range shared {
		if !referenced(t, x, k) {
			t.Fatalf("block %s shared with pinned B lost its reference", k.B58String())
		}
	}
	if st, _ := x.Root(rootA); st.Indexed {
		t.Error("expired root A is still indexed")
	}
}

func TestARootPinnedAgainWithinItsGraceIsNotExpired(t *testing.T) {
	x, db := open(t, t.TempDir())
	defer db.Close()
	ks := keys(t, "k", 3)
	root := cid.NewCidV1(cid.DagProtobuf, ks[0])
	t0 := time.Unix(1000, 0)
	for _, step := range []func() error{
		func() error { return x.Add(root, ks) },
		func() error { return x.Unpin(root, t0) },
		func() error { return x.Add(root, nil) }, // pinned again: the index is kept
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if gone, err := x.Expire(t0.Add(time.Hour), time.Minute); err != nil || len(gone) != 0 {
		t.Fatalf("expired %v (%v): the root was pinned again", gone, err)
	}
	if ok, _ := x.Pinned(ks[2]); !ok {
		t.Error("a block of a root pinned again is not pinned")
	}
}
