package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

var (
	// ErrNoProvider means no reachable peer was found for a block the
	// fetch needed.
	ErrNoProvider = errors.New("no provider has the block")
	// ErrStalled means providers were found but nothing arrived for the
	// fetch's stall timeout.
	ErrStalled = errors.New("providers found but nothing arrived in time")
)

// errFetchStore marks a local store failure, which ends a fetch: no other
// provider can help with a full disk.
var errFetchStore = errors.New("fetch: store")

const (
	fetchBatch     = 16 // CIDs per want: 4 MiB of leaves
	maxPeerFailure = 3  // transient failures before a provider is set aside
	providersWant  = 20 // providers asked of one lookup
	maxRetryWait   = 5 * time.Second
)

// FetchOptions tune a fetch.
type FetchOptions struct {
	// Providers to ask before (and besides) those the DHT names.
	Providers []peer.ID
	// StallTimeout ends the fetch when no block has arrived for this long
	// (0: only the context ends it): ErrNoProvider if no provider was ever
	// found, ErrStalled otherwise.
	StallTimeout time.Duration
}

// fetchPeer is what a fetch knows of one provider.
type fetchPeer struct {
	id       peer.ID
	inflight int
	rate     float64 // bytes per second, smoothed; 0 until measured
	failures int
	dead     bool // set aside until a lookup names it again
}

// fetch pulls every missing block of one DAG into the store. A single
// goroutine (run) decides who is asked for what: a window of wants in
// flight on every provider, the fastest providers served first, a want
// moved elsewhere when a provider says it lacks a block, fails or stalls,
// and a provider lookup (one at a time, with a backoff) when no known
// provider can give a block.
type fetch struct {
	n      *Node
	ctx    context.Context
	window int
	stall  time.Duration

	mu        sync.Mutex
	wake      chan struct{}
	queue     []cid.Cid          // wanted, not in flight, fetch order
	pending   map[string]bool    // queued or in flight
	urgent    map[string]cid.Cid // queued blocks a reader waits for
	refused   map[string]peerSet // who lacks or failed each block
	peers     map[peer.ID]*fetchPeer
	inflight  int  // wants in flight
	starved   bool // the last dispatch found no free want slot
	lookups   int  // provider lookups in flight (at most one)
	lookedUp  bool // a lookup has run
	found     bool // a provider was ever known
	retryAt   time.Time
	retryWait time.Duration
	progress  time.Time // last block received
	// arrived is closed (and replaced) whenever a block lands, so that
	// streaming readers can wait for the block they need.
	arrived chan struct{}
	// stored lists the blocks this fetch brought, which it announces:
	// blocks that were held already were announced when they came.
	stored []mh.Multihash
	err    error
	wg     sync.WaitGroup
}

type peerSet map[peer.ID]bool

func (n *Node) newFetch(ctx context.Context, opts FetchOptions) *fetch {
	f := &fetch{
		n: n, ctx: ctx, window: n.cfg.FetchWindow, stall: opts.StallTimeout,
		wake:     make(chan struct{}, 1),
		pending:  map[string]bool{},
		urgent:   map[string]cid.Cid{},
		refused:  map[string]peerSet{},
		peers:    map[peer.ID]*fetchPeer{},
		progress: time.Now(),
		arrived:  make(chan struct{}),
	}
	for _, p := range opts.Providers {
		f.addPeerLocked(p)
	}
	return f
}

func (f *fetch) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// addPeerLocked adds a provider, or gives one that was set aside another
// chance (a lookup named it again, so it may have what it lacked).
func (f *fetch) addPeerLocked(p peer.ID) {
	if p == f.n.host.ID() || f.n.gater.isBanned(p) {
		return
	}
	f.found = true
	if fp, ok := f.peers[p]; ok {
		if fp.dead {
			fp.dead, fp.failures = false, 0
			for _, set := range f.refused {
				delete(set, p)
			}
		}
		return
	}
	f.peers[p] = &fetchPeer{id: p}
}

func (f *fetch) failLocked(err error) {
	if f.err == nil {
		f.err = err
	}
}

// want adds blocks to the fetch. Blocks the store holds are resolved on
// the spot (a held inner node's children are wanted in turn), so a fetch
// of a partly held DAG asks only for what is missing. A held block that
// fails its check is dropped and fetched again.
func (f *fetch) want(cids []cid.Cid, front bool) {
	var missing []cid.Cid
	for len(cids) > 0 {
		c := cids[0]
		cids = cids[1:]
		f.mu.Lock()
		dup := f.pending[c.KeyString()]
		f.mu.Unlock()
		if dup {
			continue
		}
		has, err := f.n.store.Has(c)
		if err != nil {
			f.mu.Lock()
			f.failLocked(err)
			f.mu.Unlock()
			return
		}
		if !has {
			missing = append(missing, c)
			continue
		}
		if c.Type() != cid.DagProtobuf {
			continue
		}
		data, err := f.n.store.Get(f.ctx, c)
		if err == nil {
			var node *chunk.Node
			if node, err = chunk.DecodeNode(data); err == nil {
				for _, l := range node.Links {
					cids = append(cids, l.CID)
				}
				continue
			}
		}
		if errors.Is(err, store.ErrCorrupt) {
			f.n.logf("fetch: dropping corrupt local copy of %s: %v", c, err)
			if derr := f.n.drop(c.Hash()); derr != nil {
				f.mu.Lock()
				f.failLocked(derr)
				f.mu.Unlock()
				return
			}
		}
		missing = append(missing, c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var add []cid.Cid
	for _, c := range missing {
		if !f.pending[c.KeyString()] {
			f.pending[c.KeyString()] = true
			add = append(add, c)
		}
	}
	if front {
		f.queue = append(add, f.queue...)
	} else {
		f.queue = append(f.queue, add...)
	}
}

// run drives the fetch to its end.
func (f *fetch) run(root cid.Cid) error {
	ctx, cancel := context.WithCancel(f.ctx)
	defer func() {
		cancel()
		f.wg.Wait()
	}()
	f.ctx = ctx
	f.want([]cid.Cid{root}, false)
	for {
		f.mu.Lock()
		if f.err != nil {
			err := f.err
			f.mu.Unlock()
			return err
		}
		if len(f.queue) == 0 && f.inflight == 0 {
			f.mu.Unlock()
			return nil
		}
		if f.stall > 0 && !f.starved && time.Since(f.progress) >= f.stall {
			found := f.found
			f.mu.Unlock()
			if !found {
				return fmt.Errorf("fetch %s: %w (within %v)", root, ErrNoProvider, f.stall)
			}
			return fmt.Errorf("fetch %s: %w (%v without a block)", root, ErrStalled, f.stall)
		}
		freed := f.n.slotFreedChan() // before the dispatch, so no release is missed
		f.dispatchLocked()
		if !f.starved {
			freed = nil
		}
		timer := f.nextWakeLocked()
		found := f.found
		f.mu.Unlock()
		select {
		case <-f.wake:
		case <-freed:
		case <-timer:
		case <-ctx.Done():
			if !found && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("fetch %s: %w (within the time allowed)", root, ErrNoProvider)
			}
			return fmt.Errorf("fetch %s: %w", root, ctx.Err())
		}
	}
}

// nextWakeLocked arms a timer for the next retry or stall check, if any
// lies ahead.
func (f *fetch) nextWakeLocked() <-chan time.Time {
	var next time.Time
	now := time.Now()
	if f.retryAt.After(now) {
		next = f.retryAt
	}
	if f.stall > 0 {
		if s := f.progress.Add(f.stall); next.IsZero() || s.Before(next) {
			next = s
		}
	}
	if next.IsZero() {
		return nil
	}
	return time.After(time.Until(next))
}

// dispatchLocked hands queued blocks to providers with room, fastest
// first, and looks up providers when a block has nobody to ask.
func (f *fetch) dispatchLocked() {
	live := make([]*fetchPeer, 0, len(f.peers))
	for _, p := range f.peers {
		if !p.dead {
			live = append(live, p)
		}
	}
	// Fewer failures first; then unmeasured providers, so each gets
	// tried; then by speed.
	sort.Slice(live, func(i, j int) bool {
		if live[i].failures != live[j].failures {
			return live[i].failures < live[j].failures
		}
		if (live[i].rate == 0) != (live[j].rate == 0) {
			return live[i].rate == 0
		}
		return live[i].rate > live[j].rate
	})
	f.dispatchUrgentLocked(live)
	f.starved = false
dispatch:
	for _, p := range live {
		for p.inflight < f.window && len(f.queue) > 0 {
			if !f.n.tryWantSlot() {
				// Every slot is taken, by this fetch or others. Waiting
				// for one is not the providers' fault: no stall.
				f.starved = true
				f.progress = time.Now()
				break dispatch
			}
			batch := f.takeLocked(p.id)
			if len(batch) == 0 {
				f.n.releaseWantSlot()
				break
			}
			p.inflight++
			f.inflight++
			f.wg.Add(1)
			go f.fetchBatch(p.id, batch, true)
		}
	}
	if f.lookups > 0 {
		return
	}
	for _, c := range f.queue {
		if f.candidateLocked(c, live) {
			continue
		}
		// Nobody known can give c. One lookup at a time, by c's CID (the
		// providers of one block of a file usually hold the rest); after
		// the first, with a growing backoff: a block just added elsewhere
		// may still be on its way into the DHT.
		if !f.lookedUp || !time.Now().Before(f.retryAt) {
			if f.lookedUp {
				f.retryWait = min(max(2*f.retryWait, 250*time.Millisecond), maxRetryWait)
			}
			f.retryAt = time.Now().Add(max(f.retryWait, 250*time.Millisecond))
			f.startLookupLocked(c)
		}
		return
	}
}

// prioritize marks c as a block a reader is waiting for. The fetch walks
// the file in order, so without this a read at the end of a large file
// (a seek, a byte range) would wait for everything before it.
func (f *fetch) prioritize(c cid.Cid) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := c.KeyString()
	if f.pending[k] {
		// In flight, or in the next batch to go out: a reader reading
		// straight through waits on these, and they come soon anyway.
		if f.queueIndexLocked(k) < fetchBatch {
			return
		}
	} else {
		// It may have landed (and left pending) since the reader looked.
		if has, err := f.n.store.Has(c); err == nil && has {
			return
		}
		f.pending[k] = true
		f.queue = append(f.queue, c)
	}
	f.urgent[k] = c
	f.signal()
}

// dispatchUrgentLocked sends each queued block a reader waits for in a
// want of its own, to the best provider that may have it, past the
// window: it must not wait behind the wants already in flight. A reader
// waits on a few blocks at a time (the one it reads and its read-ahead),
// so these stay few.
func (f *fetch) dispatchUrgentLocked(live []*fetchPeer) {
	for k, c := range f.urgent {
		at := f.queueIndexLocked(k)
		if at < 0 {
			delete(f.urgent, k) // in flight already, or here
			continue
		}
		for _, p := range live {
			if f.refused[k][p.id] {
				continue
			}
			f.queue = append(f.queue[:at], f.queue[at+1:]...)
			delete(f.urgent, k)
			p.inflight++
			f.inflight++
			f.wg.Add(1)
			go f.fetchBatch(p.id, []cid.Cid{c}, false)
			break
		}
	}
}

// queueIndexLocked is where the block with key k waits in the queue, or
// -1 if it is not queued.
func (f *fetch) queueIndexLocked(k string) int {
	return slices.IndexFunc(f.queue, func(q cid.Cid) bool { return q.KeyString() == k })
}

func (f *fetch) candidateLocked(c cid.Cid, live []*fetchPeer) bool {
	refused := f.refused[c.KeyString()]
	for _, p := range live {
		if !refused[p.id] {
			return true
		}
	}
	return false
}

// takeLocked removes up to fetchBatch queued blocks that p may be asked for.
func (f *fetch) takeLocked(p peer.ID) []cid.Cid {
	var batch []cid.Cid
	rest := f.queue[:0]
	for _, c := range f.queue {
		if len(batch) < fetchBatch && !f.refused[c.KeyString()][p] {
			batch = append(batch, c)
		} else {
			rest = append(rest, c)
		}
	}
	f.queue = rest
	return batch
}

func (f *fetch) startLookupLocked(c cid.Cid) {
	f.lookedUp = true
	f.lookups++
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		provs, _, err := f.n.dht.FindProviders(f.ctx, c, providersWant)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lookups--
		if err != nil && f.ctx.Err() == nil {
			f.n.logf("fetch: find providers of %s: %v", c, err)
		}
		for _, ai := range provs {
			if ai.ID != f.n.host.ID() && len(ai.Addrs) > 0 {
				f.n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			}
			f.addPeerLocked(ai.ID)
		}
		f.signal()
	}()
}

// fetchBatch asks one provider for a batch and files what comes back.
// slotted says the dispatch took one of the node's want slots for it
// (Config.MaxWants, which bounds the block buffers of every fetch
// together); wants for blocks a reader waits for go without one.
func (f *fetch) fetchBatch(p peer.ID, batch []cid.Cid, slotted bool) {
	defer f.wg.Done()
	got := map[string]bool{}
	var bytes int
	onBlock := func(c cid.Cid, data []byte) error {
		if err := f.n.store.PutHashed(c, data); err != nil {
			return fmt.Errorf("%w %s: %w", errFetchStore, c, err)
		}
		got[c.KeyString()] = true
		bytes += len(data)
		if c.Type() == cid.DagProtobuf {
			node, err := chunk.DecodeNode(data) // verified well formed already
			if err != nil {
				return err
			}
			children := make([]cid.Cid, len(node.Links))
			for i, l := range node.Links {
				children[i] = l.CID
			}
			// Children go to the front: the fetch walks the file roughly
			// in order, so its first bytes arrive first.
			f.want(children, true)
		}
		f.mu.Lock()
		f.stored = append(f.stored, c.Hash())
		delete(f.pending, c.KeyString())
		f.progress = time.Now()
		close(f.arrived)
		f.arrived = make(chan struct{})
		f.mu.Unlock()
		f.signal()
		return nil
	}
	start := time.Now()
	dontHave, err := f.n.client.Want(f.ctx, p, batch, onBlock)
	if slotted {
		f.n.releaseWantSlot()
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.signal()
	fp := f.peers[p]
	fp.inflight--
	f.inflight--
	for _, c := range dontHave {
		f.refuseLocked(c, p)
	}
	if err != nil {
		for _, c := range batch {
			if !got[c.KeyString()] && !containsCID(dontHave, c) {
				f.queue = append(f.queue, c)
			}
		}
		switch {
		case f.ctx.Err() != nil:
		case errors.Is(err, errFetchStore), errors.Is(err, exchange.ErrBadContent):
			// A full disk, or a DAG whose own bytes are malformed: no
			// other provider can help, and this one did nothing wrong.
			f.failLocked(err)
		case errors.Is(err, exchange.ErrProtocol):
			fp.dead = true
			f.n.misbehaved(p, err)
		default:
			// A stall or a dropped connection: try elsewhere first (the
			// failure count sorts the peer back), and set the peer aside
			// after a few.
			fp.failures++
			if fp.failures >= maxPeerFailure {
				fp.dead = true
			}
		}
		return
	}
	if bytes > 0 {
		r := float64(bytes) / max(time.Since(start).Seconds(), 1e-6)
		if fp.rate == 0 {
			fp.rate = r
		} else {
			fp.rate = 0.7*fp.rate + 0.3*r
		}
	}
}

func containsCID(list []cid.Cid, c cid.Cid) bool {
	for _, x := range list {
		if x.Equals(c) {
			return true
		}
	}
	return false
}

// refuseLocked notes that p cannot give c and puts c back in the queue.
func (f *fetch) refuseLocked(c cid.Cid, p peer.ID) {
	k := c.KeyString()
	if f.refused[k] == nil {
		f.refused[k] = peerSet{}
	}
	f.refused[k][p] = true
	f.queue = append(f.queue, c)
}

// announce provides the blocks the fetch stored; call it once run has
// returned.
func (f *fetch) announce() error {
	f.mu.Lock()
	keys := f.stored
	f.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	return f.n.dht.Provide(keys...)
}

// waitChan returns a channel closed when the next block arrives.
func (f *fetch) waitChan() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.arrived
}
