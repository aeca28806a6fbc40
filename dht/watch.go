package dht

import (
	"context"
	"sync"

	ds "github.com/ipfs/go-datastore"
)

// watched is a datastore that remembers that an operation on it failed.
// The sweeping provider logs a keystore write that fails and goes on, so
// the keys of that write are neither kept nor announced; the DHT wraps the
// keystore's datastore in this to learn of it and hand the keys over
// again.
type watched struct {
	ds.Batching
	failed func()
}

func (w watched) note(err error) error {
	if err != nil {
		w.failed()
	}
	return err
}

func (w watched) Put(ctx context.Context, k ds.Key, v []byte) error {
	return w.note(w.Batching.Put(ctx, k, v))
}

func (w watched) Delete(ctx context.Context, k ds.Key) error {
	return w.note(w.Batching.Delete(ctx, k))
}

func (w watched) Has(ctx context.Context, k ds.Key) (bool, error) {
	ok, err := w.Batching.Has(ctx, k)
	return ok, w.note(err)
}

func (w watched) Sync(ctx context.Context, prefix ds.Key) error {
	return w.note(w.Batching.Sync(ctx, prefix))
}

func (w watched) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := w.Batching.Batch(ctx)
	if err != nil {
		return nil, w.note(err)
	}
	return watchedBatch{b, w.failed}, nil
}

type watchedBatch struct {
	ds.Batch
	failed func()
}

func (b watchedBatch) note(err error) error {
	if err != nil {
		b.failed()
	}
	return err
}

func (b watchedBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	return b.note(b.Batch.Put(ctx, k, v))
}

func (b watchedBatch) Delete(ctx context.Context, k ds.Key) error {
	return b.note(b.Batch.Delete(ctx, k))
}

func (b watchedBatch) Commit(ctx context.Context) error {
	return b.note(b.Batch.Commit(ctx))
}

// keeping tracks whether the keystore may lack a held key: so from New
// unless the node knows otherwise, and again after any failed keystore
// operation, until a walk of every held key that began after the last
// failure goes through. Failures are numbered so that a walk knows
// whether one happened while it ran.
type keeping struct {
	mu        sync.Mutex
	failures  int64
	unsettled bool
}

func (k *keeping) fail() {
	k.mu.Lock()
	k.failures++
	k.unsettled = true
	k.mu.Unlock()
}

func (k *keeping) generation() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.failures
}

// due reports whether a walk is needed, and the generation it starts at.
func (k *keeping) due() (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.failures, k.unsettled
}

// walked records a walk begun at gen that went through.
func (k *keeping) walked(gen int64) {
	k.mu.Lock()
	if k.failures == gen {
		k.unsettled = false
	}
	k.mu.Unlock()
}

func (k *keeping) settled() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.unsettled
}
