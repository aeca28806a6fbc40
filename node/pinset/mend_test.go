package pinset

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// failingStore refuses every write of a key that contains one of the
// strings it is told to fail, as a full disk refuses them: the batch
// holding such a key does not commit at all.
type failingStore struct {
	ds.Batching
	mu   sync.Mutex
	fail []string
	hits atomic.Int64
}

var errDiskFull = errors.New("no space left on device (test)")

func (f *failingStore) failing(k ds.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.fail {
		if strings.Contains(k.String(), s) {
			f.hits.Add(1)
			return true
		}
	}
	return false
}

func (f *failingStore) setFail(s ...string) {
	f.mu.Lock()
	f.fail = s
	f.mu.Unlock()
}

func (f *failingStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	if f.failing(k) {
		return errDiskFull
	}
	return f.Batching.Put(ctx, k, v)
}

func (f *failingStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &failingBatch{Batch: b, f: f}, nil
}

type failingBatch struct {
	ds.Batch
	f   *failingStore
	bad bool
}

func (b *failingBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	b.bad = b.bad || b.f.failing(k)
	return b.Batch.Put(ctx, k, v)
}

func (b *failingBatch) Commit(ctx context.Context) error {
	if b.bad {
		return errDiskFull
	}
	return b.Batch.Commit(ctx)
}

// A delta that failed to merge below one that merged is never asked for
// again (the heads announced are all merged here), and the dirty mark
// that would have go-ds-crdt repair it is a write that fails on a full
// disk too: the set must mend itself once writes go through again.
func TestAPinWhoseMergeFailedOnAFullDiskReachesTheSetOnceTheDiskHasRoom(t *testing.T) {
	fs := &failingStore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	cl := newClusterOn(t, 2, nil, func(i int) ds.Batching {
		if i == 1 {
			return fs
		}
		return dssync.MutexWrap(ds.NewMapDatastore())
	})
	ctx := context.Background()
	first, second := testCID(t, "first"), testCID(t, "second")
	// The first pin's entry and the dirty mark cannot be written on
	// set 1; everything else can.
	fs.setFail(first.String(), "/d")
	if err := cl.sets[0].Add(ctx, Pin{Root: first, By: cl.hosts[0].ID()}); err != nil {
		t.Fatal(err)
	}
	if err := cl.sets[0].Add(ctx, Pin{Root: second, By: cl.hosts[0].ID()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "set 1 has the second pin", func() bool { return has(t, cl.sets[1], second) })
	waitFor(t, 10*time.Second, "set 1 tried to write the first pin", func() bool { return fs.hits.Load() > 0 })
	if has(t, cl.sets[1], first) {
		t.Fatal("set 1 took the first pin although its writes failed")
	}
	// Several rebroadcasts go by with the disk still full: the first pin
	// stays out, and nothing breaks.
	time.Sleep(5 * cl.sets[1].cfg.RebroadcastInterval) // lets rebroadcasts happen; no event marks "nothing happened"
	if has(t, cl.sets[1], first) {
		t.Fatal("set 1 took the first pin although its writes failed")
	}
	fs.setFail()
	waitFor(t, 10*time.Second, "set 1 has the first pin once its disk has room", func() bool { return has(t, cl.sets[1], first) })
}
