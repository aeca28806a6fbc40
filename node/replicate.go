package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// ReplicationConfig configures how a node keeps copies of chunks on others.
type ReplicationConfig struct {
	Factor      int           // R: live copies per chunk (default 3)
	WriteQuorum int           // W: copies durable before Add returns, own included (default 2)
	GraceDelay  time.Duration // a vanished peer's time to come back (default 2m)
	Interval    time.Duration // period of the full repair walk (default 10m)
	Bandwidth   int64         // repair bytes per second (0: unlimited)
	// TickEvery is how often the repair policy's clock advances
	// (default 1s); tests make it short.
	TickEvery time.Duration
	// Disabled turns replication and repair off (the node still takes
	// pushes).
	Disabled bool
}

const pushConcurrency = 16

// replicator owns the repair policy and the goroutine that runs walks.
type replicator struct {
	n      *Node
	cfg    ReplicationConfig
	mu     sync.Mutex // guards policy and budget
	policy *repair.Policy
	budget *repair.Budget

	notifiee network.Notifiee

	pushes atomic.Int64 // repair copies made
	bytes  atomic.Int64 // bytes they carried
	under  atomic.Int64 // chunks below R at the last walk
	queued atomic.Int64 // repairs waiting in the current walk
	walks  atomic.Int64
}

// RepairStats describe the node's replication work.
type RepairStats struct {
	Walks           int64 // repair walks run
	Pushes          int64 // copies made by repair
	BytesPushed     int64
	UnderReplicated int64 // chunks this node found below R at its last walk
	Queue           int64 // repairs waiting
}

// RepairStats reports the node's replication work so far.
func (n *Node) RepairStats() RepairStats {
	r := n.rep
	return RepairStats{Walks: r.walks.Load(), Pushes: r.pushes.Load(), BytesPushed: r.bytes.Load(),
		UnderReplicated: r.under.Load(), Queue: r.queued.Load()}
}

func newReplicator(n *Node, cfg ReplicationConfig) (*replicator, error) {
	if cfg.Factor == 0 {
		cfg.Factor = 3
	}
	if cfg.WriteQuorum == 0 {
		cfg.WriteQuorum = min(2, cfg.Factor)
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Second
	}
	if cfg.WriteQuorum < 1 || cfg.WriteQuorum > cfg.Factor {
		return nil, fmt.Errorf("node: write quorum %d outside [1, %d]", cfg.WriteQuorum, cfg.Factor)
	}
	p, err := repair.New(repair.Config{Self: n.host.ID(), Factor: cfg.Factor, GraceDelay: cfg.GraceDelay, Interval: cfg.Interval})
	if err != nil {
		return nil, err
	}
	r := &replicator{n: n, cfg: cfg, policy: p, budget: repair.NewBudget(cfg.Bandwidth, max(cfg.Bandwidth, 4<<20))}
	r.notifiee = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			r.mu.Lock()
			r.policy.PeerUp(c.RemotePeer())
			r.mu.Unlock()
		},
		DisconnectedF: func(net network.Network, c network.Conn) {
			p := c.RemotePeer()
			if net.Connectedness(p) == network.Connected {
				return // another connection remains
			}
			r.mu.Lock()
			r.policy.PeerDown(p, time.Now())
			r.mu.Unlock()
		},
	}
	n.host.Network().Notify(r.notifiee)
	r.reconcile()
	return r, nil
}

// reconcile brings the policy's live set in line with the connections:
// notifications can arrive out of order (a disconnect overtaking the
// reconnect that follows it), so every tick checks the truth.
func (r *replicator) reconcile() {
	peers := r.n.host.Network().Peers()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	connected := map[peer.ID]bool{r.n.host.ID(): true}
	for _, p := range peers {
		connected[p] = true
		r.policy.PeerUp(p)
	}
	for _, p := range r.policy.Live() {
		if !connected[p] {
			r.policy.PeerDown(p, now)
		}
	}
}

// run ticks the policy and walks when it says so, until ctx ends.
func (r *replicator) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.reconcile()
			r.mu.Lock()
			walk := r.policy.Tick(now)
			r.mu.Unlock()
			if !walk {
				continue
			}
			if err := r.walk(ctx); err != nil && ctx.Err() == nil {
				r.n.logf("repair: %v", err)
			}
		}
	}
}

// closest returns the live peers closest to key, nearest first.
func (r *replicator) closest(key mh.Multihash, n int) []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.policy.Closest(key, n)
}

// push offers one block to p and records a refusal for lack of room.
func (r *replicator) push(ctx context.Context, p peer.ID, key mh.Multihash) error {
	data, err := r.n.store.GetHash(key)
	if err != nil {
		return err
	}
	c := cid.NewCidV1(cid.Raw, key) // replicas go by multihash
	err = r.n.client.Push(ctx, p, c, data)
	if err == nil {
		r.bytes.Add(int64(len(data)))
	}
	var ref *exchange.RefusedError
	if err != nil && ctx.Err() == nil && !(errors.As(err, &ref) && ref.Code == exchange.RefuseBusy) {
		// Full, draining, not a cairn node, or not answering: pass it over
		// for a while so placement moves on to the next closest peer.
		r.mu.Lock()
		r.policy.PeerFull(p, time.Now())
		r.mu.Unlock()
	}
	return err
}

// replicateWrite makes every key durable on W nodes, this one included,
// pushing to the closest live peers in order and moving past any that
// refuse, and returns the fewest copies any key reached. The copies from
// W to R are then pushed in the background (until the node closes; what
// is left undone, the repair walks finish).
func (r *replicator) replicateWrite(ctx context.Context, keys []mh.Multihash) int {
	least := r.cfg.WriteQuorum
	var mu sync.Mutex
	var rest []restCopy
	r.pushAll(ctx, keys, func(mh.Multihash) (int, []peer.ID) { return 1, nil }, r.cfg.WriteQuorum, func(k mh.Multihash, copies int, tried []peer.ID) {
		mu.Lock()
		least = min(least, copies)
		rest = append(rest, restCopy{k, copies, tried})
		mu.Unlock()
	})
	r.n.goBG(func() {
		byKey := map[string]restCopy{}
		ks := make([]mh.Multihash, len(rest))
		for i, rc := range rest {
			byKey[string(rc.key)] = rc
			ks[i] = rc.key
		}
		r.pushAll(r.n.ctx, ks, func(k mh.Multihash) (int, []peer.ID) {
			rc := byKey[string(k)]
			return rc.copies, rc.tried
		}, r.cfg.Factor, nil)
	})
	return least
}

type restCopy struct {
	key    mh.Multihash
	copies int
	tried  []peer.ID // peers that took it or refused it
}

// pushAll pushes each key to the closest live peers until want nodes hold
// it (this one counted), starting from start(key): the copies made so far
// and the peers already tried. done, if set, gets each key's outcome.
func (r *replicator) pushAll(ctx context.Context, keys []mh.Multihash, start func(mh.Multihash) (int, []peer.ID), want int, done func(mh.Multihash, int, []peer.ID)) {
	self := r.n.host.ID()
	sem := make(chan struct{}, pushConcurrency)
	var wg sync.WaitGroup
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(k mh.Multihash) {
			defer func() { <-sem; wg.Done() }()
			copies, tried := start(k)
			for _, p := range r.closest(k, len(r.n.host.Network().Peers())+1) {
				if copies >= want || ctx.Err() != nil {
					break
				}
				if p == self || containsPeer(tried, p) {
					continue
				}
				tried = append(tried, p)
				if r.push(ctx, p, k) == nil {
					copies++
				}
			}
			if done != nil {
				done(k, copies, tried)
			}
		}(k)
	}
	wg.Wait()
}

func containsPeer(list []peer.ID, p peer.ID) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// walk probes the live peers that should hold each held chunk, then
// repairs under-replicated chunks (most endangered first, within the
// bandwidth budget) and drops surplus copies.
func (r *replicator) walk(ctx context.Context) error {
	pinned, err := r.n.pinnedSet(ctx)
	canDrop := err == nil
	if err != nil {
		// Without knowing every pinned block, drop nothing; repair still runs.
		r.n.logf("repair: not dropping surplus copies this walk: %v", err)
	}
	var keys []mh.Multihash
	if err := r.n.store.ForEach(ctx, func(k mh.Multihash) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	r.walks.Add(1)
	holders := r.probe(ctx, keys)
	var q repair.Queue
	plans := map[string]repair.Decision{}
	var under int64
	for _, k := range keys {
		r.mu.Lock()
		d := r.policy.Decide(k, holders[string(k)], pinned[string(k)])
		r.mu.Unlock()
		if d.Live < r.cfg.Factor {
			under++
		}
		switch {
		case len(d.Push) > 0:
			plans[string(k)] = d
			q.Push(k, d.Live)
		case d.Drop && canDrop:
			if err := r.n.dropReplica(k); err != nil {
				return err
			}
		}
	}
	r.under.Store(under)
	defer r.queued.Store(0)
	for {
		r.queued.Store(int64(q.Len()))
		k, _, ok := q.Pop()
		if !ok {
			return nil
		}
		// Walk the closest live peers until R hold the chunk: a target
		// that refuses or fails is replaced by the next one.
		copies := plans[string(k)].Live
		tried := holders[string(k)]
		for _, p := range r.closest(k, len(r.n.host.Network().Peers())+1) {
			if copies >= r.cfg.Factor || ctx.Err() != nil {
				break
			}
			if p == r.n.host.ID() || containsPeer(tried, p) {
				continue
			}
			tried = append(tried, p)
			r.mu.Lock()
			wait := r.budget.Take(chunk.ChunkSize, time.Now())
			r.mu.Unlock()
			if wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := r.push(ctx, p, k); err != nil {
				if ctx.Err() == nil {
					r.n.logf("repair: push %s to %s: %v", k.B58String(), p, err)
				}
				continue
			}
			copies++
			r.pushes.Add(1)
		}
	}
}

// probe finds the live holders of each key, this node included: the R+4
// closest live peers of each key are asked in batched have-probes, and for
// keys that still seem short of R, so are the peers the DHT names as
// providers. Only a peer that answers yes counts.
func (r *replicator) probe(ctx context.Context, keys []mh.Multihash) map[string][]peer.ID {
	self := r.n.host.ID()
	holders := map[string][]peer.ID{}
	ask := map[peer.ID][]mh.Multihash{}
	for _, k := range keys {
		holders[string(k)] = []peer.ID{self}
		for _, p := range r.closest(k, r.cfg.Factor+4) {
			if p != self {
				ask[p] = append(ask[p], k)
			}
		}
	}
	r.haveProbe(ctx, ask, holders)
	r.probeProviders(ctx, keys, holders)
	return holders
}

// probeProviders looks beyond the closest peers for chunks that seem to
// have fewer than R holders: copies placed while closer peers were away
// or full live farther out, and a holder that sees only itself would
// otherwise repair a chunk others hold too. The DHT's provider records
// name candidates; a record counts only once its peer answers a
// have-probe (records outlive their nodes).
func (r *replicator) probeProviders(ctx context.Context, keys []mh.Multihash, holders map[string][]peer.ID) {
	var short []mh.Multihash
	for _, k := range keys {
		if len(holders[string(k)]) < r.cfg.Factor {
			short = append(short, k)
		}
	}
	if len(short) == 0 {
		return
	}
	ask := map[peer.ID][]mh.Multihash{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, k := range short {
		sem <- struct{}{}
		wg.Add(1)
		go func(k mh.Multihash) {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			provs, _, err := r.n.dht.FindProviders(lctx, cid.NewCidV1(cid.Raw, k), 2*r.cfg.Factor+4)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ai := range provs {
				if ai.ID != r.n.host.ID() && !containsPeer(holders[string(k)], ai.ID) {
					ask[ai.ID] = append(ask[ai.ID], k)
				}
			}
		}(k)
	}
	wg.Wait()
	r.haveProbe(ctx, ask, holders)
}

// haveProbe asks each peer in ask about its keys, in batches, and adds
// the peers that answer yes to holders.
func (r *replicator) haveProbe(ctx context.Context, ask map[peer.ID][]mh.Multihash, holders map[string][]peer.ID) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, pushConcurrency)
	for p, ks := range ask {
		for start := 0; start < len(ks); start += exchange.MaxHave {
			batch := ks[start:min(start+exchange.MaxHave, len(ks))]
			sem <- struct{}{}
			wg.Add(1)
			go func(p peer.ID, batch []mh.Multihash) {
				defer func() { <-sem; wg.Done() }()
				cids := make([]cid.Cid, len(batch))
				for i, k := range batch {
					cids[i] = cid.NewCidV1(cid.Raw, k)
				}
				has, err := r.n.client.Have(ctx, p, cids)
				if err != nil {
					return // not answering: not a live holder
				}
				mu.Lock()
				for i, ok := range has {
					if ok {
						holders[string(batch[i])] = append(holders[string(batch[i])], p)
					}
				}
				mu.Unlock()
			}(p, batch)
		}
	}
	wg.Wait()
}

// onPush takes a block another node places here: verified, then stored
// and fsynced with its duty mark in one commit, and announced, before it
// is acknowledged; refused when the store is full.
func (n *Node) onPush(ctx context.Context, from peer.ID, c cid.Cid, data []byte) error {
	if n.draining.Load() {
		return &exchange.RefusedError{Code: exchange.RefuseUnwanted, Reason: "this node is draining"}
	}
	if err := n.storeReplica(c, data); err != nil {
		switch {
		case errors.Is(err, store.ErrFull), errors.Is(err, store.ErrNoSpace):
			return &exchange.RefusedError{Code: exchange.RefuseFull, Reason: err.Error()}
		case errors.Is(err, chunk.ErrHashMismatch), errors.Is(err, chunk.ErrTooLarge), errors.Is(err, chunk.ErrBadNode),
			errors.Is(err, chunk.ErrUnsupportedHash), errors.Is(err, chunk.ErrUnsupportedCodec):
			return &exchange.RefusedError{Code: exchange.RefuseInvalid, Reason: err.Error()}
		}
		return err
	}
	if err := n.dht.Provide(c.Hash()); err != nil {
		n.logf("push from %s: announce %s: %v", from, c, err)
	}
	return nil
}
