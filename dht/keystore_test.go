package dht

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
	"github.com/libp2p/go-libp2p"
	mh "github.com/multiformats/go-multihash"
)

// fullDisk is a datastore whose keystore writes fail while full is set,
// as on a full disk.
type fullDisk struct {
	ds.Batching
	full atomic.Bool
}

var errFull = errors.New("no space left on device")

func (f *fullDisk) refuses(k ds.Key) bool {
	return f.full.Load() && strings.HasPrefix(k.String(), "/keystore")
}

func (f *fullDisk) Put(ctx context.Context, k ds.Key, v []byte) error {
	if f.refuses(k) {
		return errFull
	}
	return f.Batching.Put(ctx, k, v)
}

func (f *fullDisk) Batch(ctx context.Context) (ds.Batch, error) {
	return &fullBatch{f: f}, nil
}

type fullBatch struct {
	f   *fullDisk
	mu  sync.Mutex
	ops []func(context.Context) error
	bad bool
}

func (b *fullBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bad = b.bad || b.f.refuses(k)
	b.ops = append(b.ops, func(ctx context.Context) error { return b.f.Batching.Put(ctx, k, v) })
	return nil
}

func (b *fullBatch) Delete(_ context.Context, k ds.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops = append(b.ops, func(ctx context.Context) error { return b.f.Batching.Delete(ctx, k) })
	return nil
}

func (b *fullBatch) Commit(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bad {
		return errFull
	}
	for _, op := range b.ops {
		if err := op(ctx); err != nil {
			return err
		}
	}
	return nil
}

// countingKeys is a node's held keys that counts the walks over them.
type countingKeys struct {
	mu    sync.Mutex
	keys  []mh.Multihash
	walks atomic.Int64
}

func (c *countingKeys) add(keys ...mh.Multihash) {
	c.mu.Lock()
	c.keys = append(c.keys, keys...)
	c.mu.Unlock()
}

func (c *countingKeys) each(_ context.Context, fn func(mh.Multihash) error) error {
	c.walks.Add(1)
	c.mu.Lock()
	keys := c.keys
	c.mu.Unlock()
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func newAloneDHT(t *testing.T, cfg Config) *DHT {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	cfg.Host = h
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func keystoreSize(t *testing.T, d *DHT) int {
	t.Helper()
	n, err := d.ks.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartWalksTheHeldKeysOnlyWhenTheKeystoreMayLackSome(t *testing.T) {
	for _, known := range []bool{false, true} {
		held := &countingKeys{keys: keysFor(t, "start", 20)}
		d := newAloneDHT(t, Config{Keys: held.each, KeysKnown: known})
		if !known {
			waitFor(t, "the held keys in the keystore", func() bool { return keystoreSize(t, d) == 20 })
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if known {
			want = 0
		}
		if got := held.walks.Load(); got != want {
			t.Errorf("known=%v: %d walks of the held keys at start, want %d", known, got, want)
		}
		if !d.Settled() {
			t.Errorf("known=%v: not settled after a clean stop", known)
		}
	}
}

func TestAFailedKeystoreWriteHandsTheKeysOverAgainOnceItGoesThrough(t *testing.T) {
	store := &fullDisk{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	store.full.Store(true)
	held := &countingKeys{keys: keysFor(t, "full", 20)}
	d := newAloneDHT(t, Config{Datastore: store, Keys: held.each, KeystoreRetry: 20 * time.Millisecond})
	waitFor(t, "a second walk after the first failed", func() bool { return held.walks.Load() >= 2 })
	if n := keystoreSize(t, d); n != 0 {
		t.Fatalf("%d keys in the keystore of a full disk", n)
	}
	more := keysFor(t, "more", 3)
	held.add(more...)
	if err := d.Provide(more...); err != nil {
		t.Fatal(err)
	}
	if d.Settled() {
		t.Fatal("settled while the keystore refuses writes")
	}
	store.full.Store(false)
	waitFor(t, "every held key in the keystore once it has room", func() bool { return keystoreSize(t, d) == 23 })
	waitFor(t, "settled", d.Settled)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if !d.Settled() {
		t.Fatal("not settled after a clean stop with every key kept")
	}
}

func TestAStopWhileTheKeystoreRefusesWritesIsNotSettled(t *testing.T) {
	store := &fullDisk{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	store.full.Store(true)
	held := &countingKeys{keys: keysFor(t, "stop", 5)}
	d := newAloneDHT(t, Config{Datastore: store, Keys: held.each, KeystoreRetry: time.Hour})
	waitFor(t, "the start walk", func() bool { return held.walks.Load() >= 1 })
	d.Close() // fails too: the keystore cannot write its size
	if d.Settled() {
		t.Fatal("settled although no held key reached the keystore")
	}
}

func TestAProvideOnceClosingLeavesTheDHTUnsettled(t *testing.T) {
	held := &countingKeys{keys: keysFor(t, "late", 3)}
	d := newAloneDHT(t, Config{Keys: held.each})
	waitFor(t, "settled", d.Settled)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Provide(keysFor(t, "after", 1)...); err == nil {
		t.Fatal("a provide after Close succeeded")
	}
	if d.Settled() {
		t.Fatal("settled although a key handed over at close never reached the keystore")
	}
}
