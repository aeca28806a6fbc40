package node

import (
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// A pushed block no indexed root claims is freed by a sweep only once
// every root of the set is indexed here: while the indexer still has a
// root to index (its inner nodes not found yet, say), the block may be
// that root's, and this node's copy of it may be one of its R.
func TestAPushedBlockOutlivesTheGraceWhileARootWaitsToBeIndexed(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), store.Options{}, func(c *Config) {
		c.Cluster.UnpinGrace = time.Millisecond
		c.Cluster.SweepInterval = time.Hour // sweeps are run by hand here
	})
	ctx := context.Background()
	data := randomData(t, 9, 1000)
	k, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(cid.Raw, k)
	if err := n.storeReplica(c, data); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute) // the push is long past the grace
	for _, tc := range []struct {
		indexed bool
		kept    bool
	}{{indexed: false, kept: true}, {indexed: true, kept: false}} {
		if _, err := n.Sweep(ctx, later, tc.indexed); err != nil {
			t.Fatal(err)
		}
		if got := n.Has(c); got != tc.kept {
			t.Fatalf("sweep with every root indexed %v: block held %v, want %v", tc.indexed, got, tc.kept)
		}
	}
	// repo gc never frees a pushed block: pushed again, it stays.
	if err := n.storeReplica(c, data); err != nil {
		t.Fatal(err)
	}
	if _, err := n.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.Has(c) {
		t.Fatal("repo gc freed a pushed block")
	}
}

func TestARootWhoseDAGCannotBeReadKeepsTheIndexerBusy(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), store.Options{})
	// A dag-pb root nobody holds: its inner node cannot be read.
	h, err := mh.Sum([]byte("nowhere"), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	root := cid.NewCidV1(cid.DagProtobuf, h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.pinInSet(ctx, ClusterPin{Root: root}); err != nil {
		t.Fatal(err)
	}
	// Watched for a while (the indexer tries, fails and waits to retry in
	// that time): it is never idle.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n.indexIdle() {
			t.Fatal("the indexer is idle with a pinned root it could not index")
		}
	}
}
