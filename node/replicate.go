package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// PeerQuota bounds the bytes one peer's pushes may keep here while no
	// pin claims them (default 1 GiB); PeerRate the bytes per second one
	// peer may push (default 256 MiB/s, with bursts of as much).
	PeerQuota int64
	PeerRate  int64
	// TickEvery is how often the repair policy's clock advances
	// (default 1s); tests make it short.
	TickEvery time.Duration
	// ProbeEvery is how often connected peers are pinged (default
	// ProbeEvery(GraceDelay)); negative turns the pings off, for
	// simulations of many nodes in one process, where every disconnection
	// is seen.
	ProbeEvery time.Duration
	// Disabled turns replication and repair off (the node still takes
	// pushes).
	Disabled bool
}

const pushConcurrency = 64

// decideBatch is how many chunks a walk has the run loop decide at once:
// few enough that peer events are not held up behind a large store.
const decideBatch = 1024

// replicator carries out the repair policy's decisions. One goroutine,
// run, owns the policy: peer events, ticks and a walk's questions reach
// it over channels, and after each it publishes the policy's placement
// View, which Add's write path, drains and probes read without asking.
// Walks run on a goroutine of their own, one at a time, so that their
// pushes never hold up the events they cause (a refusal marks a peer
// full).
type replicator struct {
	n        *Node
	cfg      ReplicationConfig
	policy   *repair.Policy // run's alone, once run has started
	budget   *repair.Budget // the walk's: one walk at a time, its repairs under budgetMu
	budgetMu sync.Mutex
	view     atomic.Pointer[repair.View]
	admit    *admission

	events   chan peerEvent
	silent   map[peer.ID]bool // run's: connected but not answering pings
	decides  chan decideReq
	ticking  chan struct{} // closed by Start: ticks and walks begin
	tickOnce sync.Once

	notifiee network.Notifiee

	pushes  atomic.Int64 // repair copies made
	helped  atomic.Int64 // of which for chunks another holder was elected to repair
	bytes   atomic.Int64 // bytes they carried
	under   atomic.Int64 // chunks below R at the last walk
	queued  atomic.Int64 // repairs waiting in the current walk
	walks   atomic.Int64
	dropped atomic.Int64 // surplus copies dropped
	proofs  struct{ challenged, proved, failed atomic.Int64 }
}

type eventKind int

const (
	peerUp eventKind = iota
	peerDown
	peerFull     // refused a copy: passed over for a while
	peerFailed   // failed a proof of possession: distrusted
	peerProved   // proved possession: vouched for
	peerSilent   // connected, but answered no ping for a while: down since at
	peerAnswered // a silent peer answered again
)

type peerEvent struct {
	kind eventKind
	p    peer.ID
	at   time.Time
}

// decideReq asks run to decide keys from their probed holders.
type decideReq struct {
	keys    []mh.Multihash
	holders map[string][]peer.ID
	pinned  map[string]bool
	resp    chan []repair.Decision // buffered: run never waits on it
}

// RepairStats describe the node's replication work.
type RepairStats struct {
	Walks           int64 // repair walks run
	Pushes          int64 // copies made by repair
	Helped          int64 // of which for chunks another holder was elected to repair
	BytesPushed     int64
	UnderReplicated int64 // chunks this node found below R at its last walk
	Queue           int64 // repairs waiting
	Dropped         int64 // surplus copies this node dropped
	Proofs          ProofStats
}

// RepairStats reports the node's replication work so far.
func (n *Node) RepairStats() RepairStats {
	r := n.rep
	return RepairStats{Walks: r.walks.Load(), Pushes: r.pushes.Load(), Helped: r.helped.Load(), BytesPushed: r.bytes.Load(),
		UnderReplicated: r.under.Load(), Queue: r.queued.Load(), Dropped: r.dropped.Load(),
		Proofs: ProofStats{Challenged: r.proofs.challenged.Load(), Proved: r.proofs.proved.Load(), Failed: r.proofs.failed.Load()}}
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
		return nil, fmt.Errorf("node: replication: %w", err)
	}
	if cfg.PeerQuota <= 0 {
		cfg.PeerQuota = 1 << 30
	}
	if cfg.PeerRate <= 0 {
		cfg.PeerRate = 256 << 20
	}
	r := &replicator{n: n, cfg: cfg, policy: p, budget: repair.NewBudget(cfg.Bandwidth, max(cfg.Bandwidth, 4<<20)),
		events: make(chan peerEvent, 256), decides: make(chan decideReq), ticking: make(chan struct{}),
		silent: map[peer.ID]bool{}}
	r.admit = newAdmission(cfg.PeerQuota, cfg.PeerRate, func(k mh.Multihash) bool {
		if !n.Has(cid.NewCidV1(cid.Raw, k)) {
			return true // freed: it no longer takes room
		}
		ok, err := n.index.Referenced(k)
		return err == nil && ok
	})
	r.notifiee = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			r.send(peerEvent{kind: peerUp, p: c.RemotePeer()})
		},
		DisconnectedF: func(net network.Network, c network.Conn) {
			p := c.RemotePeer()
			if net.Connectedness(p) == network.Connected {
				return // another connection remains
			}
			r.send(peerEvent{kind: peerDown, p: p, at: time.Now()})
		},
	}
	// run has not started: this goroutine may still touch the policy, and
	// the first view is there for Add and probes however early they come.
	r.reconcile()
	r.view.Store(p.View())
	return r, nil
}

// launch starts run, which lasts until the node closes: Add, Drain and
// Replicas need it (and the view it keeps) even on a node never started.
func (r *replicator) launch() {
	r.n.host.Network().Notify(r.notifiee)
	r.n.goBG(r.run)
	r.n.goBG(r.pingLoop)
}

// startTicking lets run tick the policy and walk (Start).
func (r *replicator) startTicking() { r.tickOnce.Do(func() { close(r.ticking) }) }

// send hands run a peer event. run never blocks for long (it does no
// I/O), so libp2p's notifications and pushes wait at most for a decide
// batch; once the node closes, events are dropped.
func (r *replicator) send(e peerEvent) {
	select {
	case r.events <- e:
	case <-r.n.ctx.Done():
	}
}

// placement is the policy's latest placement view, for any goroutine.
func (r *replicator) placement() *repair.View { return r.view.Load() }

// reconcile brings the policy's live set in line with the connections:
// notifications can arrive out of order (a disconnect overtaking the
// reconnect that follows it), so every tick checks the truth.
func (r *replicator) reconcile() {
	peers := r.n.host.Network().Peers()
	now := time.Now()
	connected := map[peer.ID]bool{r.n.host.ID(): true}
	for _, p := range peers {
		connected[p] = true
		if !r.silent[p] {
			r.policy.PeerUp(p)
		}
	}
	for _, p := range r.policy.Live() {
		if !connected[p] {
			r.policy.PeerDown(p, now)
		}
	}
}

// run owns the policy until the node closes: it applies peer events,
// answers walks' decide requests, and once Start has been called ticks
// the policy and starts a walk when it says so. After each step it
// publishes the policy's view (the same pointer when nothing changed).
func (r *replicator) run() {
	ctx := r.n.ctx
	r.reconcile()
	r.view.Store(r.policy.View())
	ticking := r.ticking
	var ticker *time.Ticker
	var tick <-chan time.Time
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	var walking chan struct{} // closed when the running walk ends
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticking:
			ticking = nil
			ticker = time.NewTicker(r.cfg.TickEvery)
			tick = ticker.C
		case e := <-r.events:
			switch e.kind {
			case peerUp, peerAnswered:
				delete(r.silent, e.p)
				r.policy.PeerUp(e.p)
			case peerDown:
				delete(r.silent, e.p)
				r.policy.PeerDown(e.p, e.at)
			case peerSilent:
				r.silent[e.p] = true
				r.policy.PeerDown(e.p, e.at)
			case peerFull:
				r.policy.PeerFull(e.p, e.at)
			case peerFailed:
				r.policy.PeerFailed(e.p, e.at)
			case peerProved:
				r.policy.PeerProved(e.p, e.at)
			}
		case req := <-r.decides:
			out := make([]repair.Decision, len(req.keys))
			for i, k := range req.keys {
				out[i] = r.policy.Decide(k, req.holders[string(k)], req.pinned[string(k)])
			}
			req.resp <- out
		case <-walking:
			walking = nil
		case now := <-tick:
			r.reconcile()
			// While a walk runs the policy is not ticked, as when walks
			// ran on this goroutine: a walk it asked for meanwhile would
			// be lost, and the next tick after the walk asks again.
			if r.cfg.Disabled || walking != nil || !r.policy.Tick(now) {
				break
			}
			done := make(chan struct{})
			if !r.n.goBG(func() {
				defer close(done)
				start, before := time.Now(), r.n.RepairStats()
				err := r.walk(ctx)
				if err != nil && ctx.Err() == nil {
					r.n.logf("repair: %v", err)
				}
				// A walk that found work says what it did: the log is
				// how an operator (or the testnet's report) tells a
				// chunk nobody repairs from one repaired late.
				if after := r.n.RepairStats(); after.UnderReplicated > 0 || after.Dropped > before.Dropped || after.Pushes > before.Pushes {
					r.n.logf("repair: walk %d: %d chunks below R, %d copies made, %d dropped, in %v",
						after.Walks, after.UnderReplicated, after.Pushes-before.Pushes, after.Dropped-before.Dropped, time.Since(start).Round(time.Millisecond))
				}
			}) {
				return // closing
			}
			walking = done
		}
		r.view.Store(r.policy.View())
	}
}

// decide has run decide keys from their holders.
func (r *replicator) decide(ctx context.Context, keys []mh.Multihash, holders map[string][]peer.ID, pinned map[string]bool) ([]repair.Decision, error) {
	req := decideReq{keys: keys, holders: holders, pinned: pinned, resp: make(chan []repair.Decision, 1)}
	select {
	case r.decides <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-req.resp:
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// probe finds the live holders of each key, this node included: the R+4
// closest live peers of each key are asked in batched have-probes, and for
// keys of which no other holder answered, so are the peers the DHT names
// as providers. Only a peer that answers yes counts.
func (r *replicator) probe(ctx context.Context, keys []mh.Multihash) map[string][]peer.ID {
	self := r.n.host.ID()
	v := r.placement()
	holders := map[string][]peer.ID{}
	near := r.cfg.Factor + 4
	ask := map[peer.ID][]mh.Multihash{}
	for _, k := range keys {
		holders[string(k)] = []peer.ID{self}
		for _, p := range v.Closest(k, near) {
			if p != self {
				ask[p] = append(ask[p], k)
			}
		}
	}
	r.haveProbe(ctx, ask, holders)
	// Keys that seem short of R are asked of the next ring of peers too,
	// still in batched have-probes: copies placed while closer peers were
	// full or away, and a pinned copy on the node that added the file,
	// live there. Without it a walker that missed them repaired chunks
	// that had their R copies (a ten-node bench made twice the repairs
	// the dead node called for).
	ask = map[peer.ID][]mh.Multihash{}
	for _, k := range keys {
		if len(holders[string(k)]) >= r.cfg.Factor {
			continue
		}
		ring := v.Closest(k, 2*near)
		ring = ring[min(near, len(ring)):]
		for _, p := range ring {
			if p != self {
				ask[p] = append(ask[p], k)
			}
		}
	}
	r.haveProbe(ctx, ask, holders)
	r.probeProviders(ctx, keys, holders)
	return holders
}

// probeProviders looks beyond the closest peers for chunks of which this
// node sees no other holder: copies placed while closer peers were away
// or full live farther out, and a holder that sees only itself would
// otherwise repair a chunk others hold too. The DHT's provider records
// name candidates; a record counts only once its peer answers a
// have-probe (records outlive their nodes). A chunk with another holder
// among its closest peers is not looked up: after a node dies, most of
// its chunks are in that case, and a lookup each (8 at a time) held the
// repairs of a 1 GiB file back for seconds; should copies farther out
// exist, a repair makes one too many, which the surplus rule drops.
func (r *replicator) probeProviders(ctx context.Context, keys []mh.Multihash, holders map[string][]peer.ID) {
	var short []mh.Multihash
	for _, k := range keys {
		if len(holders[string(k)]) < min(2, r.cfg.Factor) {
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
				if ai.ID != r.n.host.ID() && !slices.Contains(holders[string(k)], ai.ID) {
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
