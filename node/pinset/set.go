package pinset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	crdt "github.com/ipfs/go-ds-crdt"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topic is the gossipsub topic the set's heads are announced on.
const Topic = "/cairn/pins/1"

// Config configures a Set.
type Config struct {
	Host   host.Host
	PubSub *pubsub.PubSub
	// Datastore persists the CRDT's state (a goleveldb datastore with
	// synced writes, so an entry is durable once merged).
	Datastore ds.Batching
	// Blocks keeps the delta blocks; Fetch gets one a peer holds (from
	// any of the given peers, which announce the set).
	Blocks Blocks
	Fetch  func(ctx context.Context, c cid.Cid, from []peer.ID) ([]byte, error)
	// RebroadcastInterval is how often the heads are announced again, so
	// a node that was away catches up (default 10s).
	RebroadcastInterval time.Duration
	// AckTimeout is how long this node works on a peer's ack request
	// before it answers that it does not hold the entries (default
	// AckTimeout).
	AckTimeout time.Duration
	// Writers, when set, are the only peers whose changes are taken;
	// empty means every peer of the swarm may write.
	Writers []peer.ID
	// OnChange is told of every root added to or removed from the set,
	// by this node or a peer. A removal may be reported for a root still
	// in the set (go-ds-crdt's DeleteHook): check with Has. It must not
	// block.
	OnChange func(root cid.Cid)
	Logf     func(format string, args ...any)
}

// Set is a node's replica of the cluster's pin set.
type Set struct {
	cfg     Config
	crdt    *crdt.Datastore
	bc      *broadcaster
	stop    context.CancelFunc
	wg      sync.WaitGroup
	chMu    sync.Mutex
	chNow   chan struct{} // closed and replaced at every change
	pending []ds.Key      // puts merged, their batch not yet committed
	mend    atomic.Bool   // a write failed: the replica wants a repair
	totals  totalsCache
}

// New joins the set's topic and opens the local replica.
func New(cfg Config) (*Set, error) {
	if cfg.Host == nil || cfg.PubSub == nil || cfg.Datastore == nil || cfg.Blocks == nil {
		return nil, errors.New("pinset: needs a host, pubsub, a datastore and a block store")
	}
	if cfg.RebroadcastInterval < 0 || cfg.AckTimeout < 0 {
		return nil, errors.New("pinset: negative RebroadcastInterval or AckTimeout")
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = AckTimeout
	}
	if cfg.RebroadcastInterval == 0 {
		cfg.RebroadcastInterval = 10 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Set{cfg: cfg, chNow: make(chan struct{}), totals: totalsCache{lock: make(chan struct{}, 1)}}
	if err := cfg.PubSub.RegisterTopicValidator(Topic, s.validate); err != nil {
		return nil, fmt.Errorf("pinset: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	bc, err := newBroadcaster(ctx, cfg.PubSub, cfg.Host.ID(), &s.wg)
	if err != nil {
		cancel()
		cfg.PubSub.UnregisterTopicValidator(Topic)
		return nil, err
	}
	s.bc = bc
	opts := crdt.DefaultOptions()
	opts.Logger = logger{cfg.Logf}
	opts.RebroadcastInterval = cfg.RebroadcastInterval
	opts.DAGSyncerTimeout = time.Minute
	// A delta that failed to merge (a disk that was full, a fetch that
	// failed) marks the state dirty; the repair walk that mends it runs
	// only then, so it may run often: within a minute rather than crdt's
	// hour, or a node misses pins (and frees their blocks) that long.
	opts.RepairInterval = time.Minute
	opts.MaxBatchDeltaSize = MaxDelta / 2
	// go-ds-crdt calls PutHook before it commits the batch that makes the
	// entry visible (DeleteHook after): a put is announced once the
	// batch has committed, so whoever is told finds the entry there.
	opts.PutHook = func(k ds.Key, _ []byte) { s.putPending(k) }
	opts.DeleteHook = func(k ds.Key) { s.changed(k) }
	dags := &dagService{blocks: cfg.Blocks, fetch: func(ctx context.Context, c cid.Cid) ([]byte, error) {
		// Asked again, with the peers of the moment, for up to a minute
		// (crdt's DAGSyncerTimeout): a node just restarted has no
		// connection yet, and crdt drops a head whose delta it could not
		// fetch, leaving its pins out of this node's set.
		giveUp := time.Now().Add(time.Minute)
		for {
			data, err := cfg.Fetch(ctx, c, s.fetchPeers())
			if err == nil || ctx.Err() != nil || time.Now().After(giveUp) {
				return data, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(time.Second):
			}
		}
	}}
	if cfg.Fetch == nil {
		dags.fetch = nil
	}
	s.crdt, err = crdt.New(committing{cfg.Datastore, s.flushPending, s.writeFailed}, ds.NewKey("/pins"), dags, bc, opts)
	if err != nil {
		s.closeNetwork()
		return nil, fmt.Errorf("pinset: %w", err)
	}
	s.wg.Add(1)
	go s.mendLoop(ctx)
	cfg.Host.SetStreamHandler(AckProtocol, s.handleAck)
	return s, nil
}

func (s *Set) putPending(k ds.Key) {
	s.chMu.Lock()
	s.pending = append(s.pending, k)
	s.chMu.Unlock()
}

// flushPending announces the puts whose batch has committed, as one
// change.
func (s *Set) flushPending() {
	s.chMu.Lock()
	ks := s.pending
	s.pending = nil
	s.chMu.Unlock()
	s.changed(ks...)
}

// committing tells after of every batch it commits, and failed of every
// write that did not go through.
type committing struct {
	ds.Batching
	after  func()
	failed func(error)
}

func (c committing) Put(ctx context.Context, k ds.Key, v []byte) error {
	err := c.Batching.Put(ctx, k, v)
	if err != nil {
		c.failed(err)
	}
	return err
}

func (c committing) Delete(ctx context.Context, k ds.Key) error {
	err := c.Batching.Delete(ctx, k)
	if err != nil {
		c.failed(err)
	}
	return err
}

func (c committing) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := c.Batching.Batch(ctx)
	if err != nil {
		c.failed(err)
		return nil, err
	}
	return committedBatch{b, c.after, c.failed}, nil
}

type committedBatch struct {
	ds.Batch
	after  func()
	failed func(error)
}

func (b committedBatch) Commit(ctx context.Context) error {
	err := b.Batch.Commit(ctx)
	if err != nil {
		b.failed(err)
	}
	b.after()
	return err
}

// writeFailed notes that a write of the replica's state failed (a full
// disk, say): a delta it was merging may be left out for good.
func (s *Set) writeFailed(error) { s.mend.Store(true) }

// mendLoop repairs the replica after a failed write, at each rebroadcast
// tick until a repair goes through. go-ds-crdt marks its state dirty
// when a merge fails, and repairs only a dirty state; but on a full disk
// the dirty mark is a write that fails too, and a delta below one that
// merged is then never merged again: its pins stay out of this node's
// set, whose blocks this node then frees as nobody's.
func (s *Set) mendLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RebroadcastInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.mend.Swap(false) {
			continue
		}
		err := s.crdt.Repair(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.mend.Store(true)
			s.cfg.Logf("pinset: mending the set after a failed write: %v (will retry)", err)
		case !s.mend.Load(): // a write of the repair's own failed: it says so, and the next tick retries
			s.cfg.Logf("pinset: set mended after a failed write")
		}
	}
}

// changed tells of a change to the entries under ks: the changes channel
// is closed once, then OnChange hears of each root.
func (s *Set) changed(ks ...ds.Key) {
	var roots []cid.Cid
	for _, k := range ks {
		if root, err := parseKey(k.String(), true); err == nil {
			roots = append(roots, root)
		}
	}
	if len(roots) == 0 {
		return
	}
	s.chMu.Lock()
	close(s.chNow)
	s.chNow = make(chan struct{})
	s.chMu.Unlock()
	if s.cfg.OnChange != nil {
		for _, root := range roots {
			s.cfg.OnChange(root)
		}
	}
}

// changes is closed at the next change to the set.
func (s *Set) changes() <-chan struct{} {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	return s.chNow
}

func (s *Set) closeNetwork() {
	s.cfg.Host.RemoveStreamHandler(AckProtocol)
	s.stop()
	s.wg.Wait()
	s.cfg.PubSub.UnregisterTopicValidator(Topic)
}

// Close leaves the topic and closes the replica; its state stays in the
// datastore.
func (s *Set) Close() error {
	s.cfg.Host.RemoveStreamHandler(AckProtocol)
	// The broadcaster goes first: go-ds-crdt's Close waits for its
	// reader, which waits for the next announcement otherwise.
	s.stop()
	err := s.crdt.Close()
	s.wg.Wait()
	s.cfg.PubSub.UnregisterTopicValidator(Topic)
	return err
}

// Add puts a pin in the set (replacing the entry of the same root).
func (s *Set) Add(ctx context.Context, p Pin) error {
	v, err := p.encode()
	if err != nil {
		return err
	}
	if err := s.crdt.Put(ctx, ds.NewKey(key(p.Root)), v); err != nil {
		return fmt.Errorf("pinset: add %s: %w", p.Root, err)
	}
	return nil
}

// AddMany puts pins in the set, addsPerDelta to a delta. It is not all or
// nothing: when a commit fails, the deltas committed before it stay (the
// pins in them are in the set, as a retry would make them anyway).
func (s *Set) AddMany(ctx context.Context, pins []Pin) error {
	for len(pins) > 0 {
		n := min(len(pins), addsPerDelta)
		b, err := s.crdt.Batch(ctx)
		if err != nil {
			return err
		}
		for _, p := range pins[:n] {
			v, err := p.encode()
			if err != nil {
				return err
			}
			if err := b.Put(ctx, ds.NewKey(key(p.Root)), v); err != nil {
				return fmt.Errorf("pinset: add %s: %w", p.Root, err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			return err
		}
		pins = pins[n:]
	}
	return nil
}

// addsPerDelta bounds the pins of one delta. go-ds-crdt sizes the whole
// delta at every put, so a delta's cost grows with its square: at 2,500
// pins (its 512 KiB bound) the sizing was half the CPU of a bulk import's
// publish. The deltas of 1,024 pins are some 200 KiB.
const addsPerDelta = 1024

// Remove takes a root out of the set; ErrNotPinned if it is not in it.
func (s *Set) Remove(ctx context.Context, root cid.Cid) error {
	ok, err := s.Has(ctx, root)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pinset: remove %s: %w", root, ErrNotPinned)
	}
	if err := s.crdt.Delete(ctx, ds.NewKey(key(root))); err != nil {
		return fmt.Errorf("pinset: remove %s: %w", root, err)
	}
	return nil
}

// Has reports whether root is in the set.
func (s *Set) Has(ctx context.Context, root cid.Cid) (bool, error) {
	ok, err := s.crdt.Has(ctx, ds.NewKey(key(root)))
	if err != nil {
		return false, fmt.Errorf("pinset: %w", err)
	}
	return ok, nil
}

// Get returns root's entry; ErrNotPinned if it is not in the set.
func (s *Set) Get(ctx context.Context, root cid.Cid) (Pin, error) {
	v, err := s.crdt.Get(ctx, ds.NewKey(key(root)))
	if errors.Is(err, ds.ErrNotFound) {
		return Pin{}, fmt.Errorf("pinset: %s: %w", root, ErrNotPinned)
	}
	if err != nil {
		return Pin{}, fmt.Errorf("pinset: %w", err)
	}
	return decodePin(key(root), v)
}

// List calls fn with every pin in the set, in no particular order. An
// entry that does not decode is skipped and logged (every delta is
// checked before it merges, so only a damaged datastore has one).
func (s *Set) List(ctx context.Context, fn func(Pin) error) error {
	res, err := s.crdt.Query(ctx, query.Query{})
	if err != nil {
		return fmt.Errorf("pinset: list: %w", err)
	}
	defer res.Close()
	dec := entryDecoder{pinners: map[string]peer.ID{}}
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("pinset: list: %w", r.Error)
		}
		p, err := dec.decode(r.Key, r.Value)
		if err != nil {
			s.cfg.Logf("pinset: skipping entry: %v", err)
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Heads are the set's current heads (the deltas nothing builds on yet).
func (s *Set) Heads(ctx context.Context) []cid.Cid {
	return slices.Clone(s.crdt.InternalStats(ctx).Heads)
}

// fetchPeers is whom to ask for a delta: the peers that announce the set
// and every other connected peer (one that just connected, or whose ack
// request brought the heads, may not have told its subscriptions yet).
func (s *Set) fetchPeers() []peer.ID {
	out := s.bc.peers()
	for _, p := range s.cfg.Host.Network().Peers() {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Peers lists the peers that announce the set, as this node knows them.
func (s *Set) Peers() []peer.ID { return s.bc.peers() }

// validate drops an announcement that is malformed, too large or, with
// Writers set, from a peer not among them; a peer sending such is
// penalised by gossipsub's scoring.
func (s *Set) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if !s.mayWrite(msg.GetFrom()) {
		s.cfg.Logf("pinset: dropping an announcement by %s (not a writer) from %s", msg.GetFrom(), from)
		return pubsub.ValidationReject
	}
	if _, err := decodeHeads(msg.GetData()); err != nil {
		s.cfg.Logf("pinset: dropping an announcement from %s: %v", from, err)
		return pubsub.ValidationReject
	}
	return pubsub.ValidationAccept
}

func (s *Set) mayWrite(p peer.ID) bool {
	return len(s.cfg.Writers) == 0 || p == s.cfg.Host.ID() || slices.Contains(s.cfg.Writers, p)
}

// logger gives go-ds-crdt the node's log; its debug notes are dropped.
type logger struct{ logf func(string, ...any) }

func (l logger) Debug(...any)             {}
func (l logger) Debugf(string, ...any)    {}
func (l logger) Info(args ...any)         {}
func (l logger) Infof(string, ...any)     {}
func (l logger) Warn(args ...any)         { l.logf("pinset: %s", fmt.Sprint(args...)) }
func (l logger) Warnf(f string, a ...any) { l.logf("pinset: "+f, a...) }
func (l logger) Error(args ...any)        { l.logf("pinset: %s", fmt.Sprint(args...)) }
func (l logger) Errorf(f string, a ...any) {
	l.logf("pinset: "+f, a...)
}
func (l logger) Fatal(args ...any)         { l.logf("pinset: fatal: %s", fmt.Sprint(args...)) }
func (l logger) Fatalf(f string, a ...any) { l.logf("pinset: fatal: "+f, a...) }
func (l logger) Panic(args ...any)         { l.logf("pinset: panic: %s", fmt.Sprint(args...)) }
func (l logger) Panicf(f string, a ...any) { l.logf("pinset: panic: "+f, a...) }
