package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNoProvider means no reachable peer had a block the fetch needed.
var ErrNoProvider = errors.New("no provider has the block")

// errFetchStore marks a local store failure, which ends a fetch: no other
// provider can help with a full disk.
var errFetchStore = errors.New("fetch: store")

const (
	fetchBatch     = 16 // CIDs per want: 4 MiB of leaves
	maxPeerFailure = 3  // transient failures before a provider is dropped
	providersWant  = 20 // providers asked of one lookup
)

// fetchPeer is what a fetch knows of one provider.
type fetchPeer struct {
	id       peer.ID
	inflight int
	rate     float64 // bytes per second, smoothed; 0 until measured
	failures int
	dead     bool
}

// fetch pulls every missing block of one DAG into the store. A single
// goroutine (run) decides who is asked for what: a window of wants in
// flight on every provider, the fastest providers served first, a want
// moved elsewhere when a provider says it lacks a block, fails or stalls,
// and a provider lookup for any block that no known provider can give.
type fetch struct {
	n      *Node
	ctx    context.Context
	window int

	mu       sync.Mutex
	wake     chan struct{}
	queue    []cid.Cid          // wanted, not in flight, fetch order
	pending  map[string]bool    // queued or in flight
	refused  map[string]peerSet // who lacks or failed each block
	lookedUp map[string]bool    // blocks a provider lookup ran for
	peers    map[peer.ID]*fetchPeer
	inflight int // wants in flight
	lookups  int // provider lookups in flight
	err      error
	// Retrying lookups for blocks nobody has yet.
	found     bool      // a provider was ever known
	retryAt   time.Time // when stuck blocks get their next lookup
	retryWait time.Duration
	wg        sync.WaitGroup
}

type peerSet map[peer.ID]bool

func (n *Node) newFetch(ctx context.Context, providers []peer.ID) *fetch {
	f := &fetch{
		n: n, ctx: ctx, window: n.cfg.FetchWindow,
		wake:     make(chan struct{}, 1),
		pending:  map[string]bool{},
		refused:  map[string]peerSet{},
		lookedUp: map[string]bool{},
		peers:    map[peer.ID]*fetchPeer{},
	}
	for _, p := range providers {
		if f.addPeerLocked(p) {
			f.found = true
		}
	}
	return f
}

func (f *fetch) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetch) addPeerLocked(p peer.ID) bool {
	if p == f.n.host.ID() || f.n.gater.isBanned(p) {
		return false
	}
	if _, ok := f.peers[p]; ok {
		return false
	}
	f.peers[p] = &fetchPeer{id: p}
	return true
}

func (f *fetch) failLocked(err error) {
	if f.err == nil {
		f.err = err
	}
}

// want adds blocks to the fetch. Blocks the store holds are resolved on
// the spot (a held inner node's children are wanted in turn), so a fetch
// of a partly held DAG asks only for what is missing.
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
		// A held block that does not read back is fetched again.
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
	f.mu.Lock()
	if len(f.peers) == 0 && len(f.queue) > 0 {
		f.startLookupLocked(root)
	}
	f.mu.Unlock()
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
		f.dispatchLocked()
		f.mu.Unlock()
		var retry <-chan time.Time
		f.mu.Lock()
		if !f.retryAt.IsZero() {
			retry = time.After(time.Until(f.retryAt))
		}
		found := f.found
		f.mu.Unlock()
		select {
		case <-f.wake:
		case <-retry:
		case <-ctx.Done():
			if !found && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("fetch %s: %w (within the time allowed)", root, ErrNoProvider)
			}
			return fmt.Errorf("fetch %s: %w", root, ctx.Err())
		}
	}
}

// dispatchLocked hands queued blocks to providers with room, fastest
// first, and looks up providers for blocks nobody known can give.
func (f *fetch) dispatchLocked() {
	live := make([]*fetchPeer, 0, len(f.peers))
	for _, p := range f.peers {
		if !p.dead {
			live = append(live, p)
		}
	}
	// Providers with fewer failures first; then unmeasured ones, so each
	// gets tried; then by speed.
	sort.Slice(live, func(i, j int) bool {
		if live[i].failures != live[j].failures {
			return live[i].failures < live[j].failures
		}
		if (live[i].rate == 0) != (live[j].rate == 0) {
			return live[i].rate == 0
		}
		return live[i].rate > live[j].rate
	})
	for _, p := range live {
		for p.inflight < f.window {
			batch := f.takeLocked(p.id)
			if len(batch) == 0 {
				break
			}
			p.inflight++
			f.inflight++
			f.wg.Add(1)
			go f.fetchBatch(p.id, batch)
		}
	}
	// Blocks left in the queue that no live provider may be asked for.
	for _, c := range f.queue {
		if f.candidateLocked(c, live) {
			continue
		}
		switch {
		case !f.lookedUp[c.KeyString()]:
			f.startLookupLocked(c)
		case f.lookups == 0 && f.inflight == 0 && !time.Now().Before(f.retryAt):
			// Nobody has it yet; a block just added elsewhere may still be
			// on its way into the DHT. Ask again, less often each time,
			// until the caller's deadline.
			f.startLookupLocked(c)
			f.retryWait = min(max(2*f.retryWait, 250*time.Millisecond), 5*time.Second)
			f.retryAt = time.Now().Add(f.retryWait)
		}
	}
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
	f.lookedUp[c.KeyString()] = true
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
			if f.addPeerLocked(ai.ID) {
				f.found = true
			}
		}
		f.signal()
	}()
}

// fetchBatch asks one provider for a batch and files what comes back.
func (f *fetch) fetchBatch(p peer.ID, batch []cid.Cid) {
	defer f.wg.Done()
	start := time.Now()
	got := map[string]bool{}
	var bytes int
	dontHave, err := f.n.client.Want(f.ctx, p, batch, func(c cid.Cid, data []byte) error {
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
		delete(f.pending, c.KeyString())
		f.mu.Unlock()
		f.signal()
		return nil
	})

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
		case errors.Is(err, errFetchStore):
			f.failLocked(err)
		case errors.Is(err, exchange.ErrProtocol):
			fp.dead = true
			f.n.misbehaved(p, err)
		default:
			// A stall or a dropped connection: try again, elsewhere first
			// (the failure count sorts the peer back), and give up on the
			// peer after a few.
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
