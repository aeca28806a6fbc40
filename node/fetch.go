package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/cairnstore/cairn/node/fetchplan"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

var (
	// ErrNoProvider means no reachable peer was found for a block the
	// fetch needed.
	ErrNoProvider = fetchplan.ErrNoProvider
	// ErrStalled means providers were found but nothing arrived for the
	// fetch's stall timeout.
	ErrStalled = fetchplan.ErrStalled
)

// errFetchStore marks a local store failure, which ends a fetch: no other
// provider can help with a full disk.
var errFetchStore = errors.New("fetch: store")

const (
	providersWant = 20 // providers asked of one lookup
	// fetchEvents buffers the events of the wants in flight, so that a
	// want goroutine seldom waits for the loop.
	fetchEvents = 256
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

// fetch pulls every missing block of one DAG into the store. It performs
// what a fetchplan.Plan decides: one loop goroutine (run) owns the plan,
// feeds it the events that the wants and lookups it started send back,
// and performs the actions the plan hands out.
type fetch struct {
	n      *Node
	opts   FetchOptions
	ctx    context.Context // ends when run returns
	cancel context.CancelFunc
	root   cid.Cid         // set by run
	plan   *fetchplan.Plan // run's alone
	events chan fetchplan.Event
	wg     sync.WaitGroup // the wants and lookup in flight
	// freed is the slot pool's signal, armed while the plan waits for a
	// node-wide want slot (run's alone).
	freed <-chan struct{}
	// granted counts the node-wide slots taken for the plan that no want
	// holds yet (run's alone): given back if the fetch ends first.
	granted int

	mu sync.Mutex
	// stored lists the blocks this fetch brought, which it announces:
	// blocks that were held already were announced when they came.
	stored []mh.Multihash
	// arrived is closed (and replaced) when a block lands while a reader
	// waits (waiting), so that streaming readers can wait for the block
	// they need.
	arrived chan struct{}
	waiting bool
}

func (n *Node) newFetch(ctx context.Context, opts FetchOptions) *fetch {
	ctx, cancel := context.WithCancel(ctx)
	return &fetch{
		n: n, opts: opts, ctx: ctx, cancel: cancel,
		events:  make(chan fetchplan.Event, fetchEvents),
		arrived: make(chan struct{}),
	}
}

// usable says whether p may be asked for blocks: not this node, not banned.
func (n *Node) usable(p peer.ID) bool {
	return p != n.host.ID() && !n.gater.isBanned(p)
}

// run drives the fetch of the DAG under root to its end.
func (f *fetch) run(root cid.Cid) error {
	defer func() {
		f.cancel()
		for ; f.granted > 0; f.granted-- {
			f.n.releaseWantSlot()
		}
		f.wg.Wait()
	}()
	var provs []string
	for _, p := range f.opts.Providers {
		if f.n.usable(p) {
			provs = append(provs, string(p))
		}
	}
	f.root = root
	f.plan = fetchplan.New(fetchplan.Config{
		Root:         root,
		Providers:    provs,
		Window:       f.n.cfg.FetchWindow,
		StallTimeout: f.opts.StallTimeout,
	})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if f.ctx.Err() != nil {
			return f.ctxErr()
		}
		f.plan.Tick(time.Now())
		if end, err := f.perform(); end {
			return err
		}
		if next := f.plan.NextDeadline(); next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case ev := <-f.events:
			f.plan.Step(ev)
			// Take what else is waiting before the next round of
			// decisions: one Ready for many blocks.
			for more := true; more; {
				select {
				case ev := <-f.events:
					f.plan.Step(ev)
				default:
					more = false
				}
			}
		case <-f.freed:
			f.freed = nil
			f.plan.Step(fetchplan.Event{Kind: fetchplan.SlotFreed})
		case <-timer.C:
		case <-f.ctx.Done():
			return f.ctxErr()
		}
	}
}

func (f *fetch) ctxErr() error {
	err := f.ctx.Err()
	f.n.logf("fetch %s: %v with %v", f.root, err, f.plan)
	if !f.plan.Found() && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fetch %s: %w (within the time allowed)", f.root, ErrNoProvider)
	}
	return fmt.Errorf("fetch %s: %w", f.root, err)
}

// perform carries out the plan's actions until it has none left; end
// says the fetch is over, with err.
func (f *fetch) perform() (end bool, err error) {
	for {
		acts := f.plan.Ready()
		if len(acts) == 0 {
			return false, nil
		}
		for _, a := range acts {
			switch a.Kind {
			case fetchplan.Resolve:
				ev, err := f.resolve(a.CIDs)
				if err != nil {
					return true, err
				}
				f.plan.Step(ev)
			case fetchplan.SendWant:
				if a.Slotted {
					f.granted-- // the want gives it back when it ends
				}
				f.wg.Add(1)
				go f.want(a.Want, peer.ID(a.Peer), a.CIDs, a.Slotted)
			case fetchplan.TakeSlot:
				freed := f.n.slotFreedChan() // before the try, so no release is missed
				if f.n.tryWantSlot() {
					f.granted++
					f.plan.Step(fetchplan.Event{Kind: fetchplan.SlotGranted})
				} else {
					f.freed = freed
					f.plan.Step(fetchplan.Event{Kind: fetchplan.NoSlot})
				}
			case fetchplan.ReleaseSlot:
				f.granted--
				f.n.releaseWantSlot()
			case fetchplan.FindProviders:
				f.wg.Add(1)
				go f.lookup(a.CID)
			case fetchplan.Fail:
				return true, fmt.Errorf("fetch %s: %w", f.root, a.Err)
			case fetchplan.Done:
				return true, nil
			}
		}
	}
}

// resolve finds out which of cids the store holds, reading the links of
// held inner nodes, so that a fetch of a partly held DAG asks only for
// what is missing. A held block that fails its check is dropped and
// fetched again.
func (f *fetch) resolve(cids []cid.Cid) (fetchplan.Event, error) {
	ev := fetchplan.Event{Kind: fetchplan.Resolved}
	for _, c := range cids {
		// A DAG may link a huge number of held blocks: a cancelled fetch
		// must not read them all first.
		if err := f.ctx.Err(); err != nil {
			return ev, f.ctxErr()
		}
		if data, ok := chunk.IdentityData(c); ok {
			// Its bytes are in the CID: held by every node, never fetched.
			ls, err := chunk.Links(c, data)
			if err != nil {
				return ev, fmt.Errorf("fetch %s: %w", f.root, err)
			}
			ev.Held = append(ev.Held, fetchplan.Held{CID: c, Links: ls})
			continue
		}
		has, err := f.n.store.Has(c)
		if err != nil {
			return ev, fmt.Errorf("fetch %s: %w %s: %w", f.root, errFetchStore, c, err)
		}
		if !has {
			ev.CIDs = append(ev.CIDs, c)
			continue
		}
		if !chunk.HasLinks(c) {
			ev.Held = append(ev.Held, fetchplan.Held{CID: c})
			continue
		}
		data, err := f.n.store.Get(f.ctx, c)
		if err == nil {
			var ls []cid.Cid
			if ls, err = chunk.Links(c, data); err == nil {
				ev.Held = append(ev.Held, fetchplan.Held{CID: c, Links: ls})
				continue
			}
		}
		if errors.Is(err, store.ErrCorrupt) {
			f.n.logf("fetch: local copy of %s failed its check; replacing it: %v", c, err)
			if merr := f.n.mend(f.ctx, c.Hash()); merr != nil {
				return ev, fmt.Errorf("fetch %s: %s failed its check and no replica could replace it: %w", f.root, c, merr)
			}
			data, err := f.n.store.Get(f.ctx, c)
			var ls []cid.Cid
			if err == nil {
				ls, err = chunk.Links(c, data)
			}
			if err != nil {
				return ev, fmt.Errorf("fetch %s: %s: %w", f.root, c, err)
			}
			ev.Held = append(ev.Held, fetchplan.Held{CID: c, Links: ls})
			continue
		}
		ev.CIDs = append(ev.CIDs, c)
	}
	return ev, nil
}

// send hands an event to the loop, unless the fetch has ended.
func (f *fetch) send(ev fetchplan.Event) {
	select {
	case f.events <- ev:
	case <-f.ctx.Done():
	}
}

// want asks one provider for a batch and reports every block that comes
// and the want's end to the loop. slotted says the want holds one of the
// node's want slots (Config.MaxWants, which bounds the block buffers of
// every fetch together); wants for blocks a reader waits for go without.
func (f *fetch) want(id fetchplan.WantID, p peer.ID, batch []cid.Cid, slotted bool) {
	defer f.wg.Done()
	var bytes int64
	onBlock := func(c cid.Cid, data []byte) error {
		if err := f.n.store.PutHashed(c, data); err != nil {
			return fmt.Errorf("%w %s: %w", errFetchStore, c, err)
		}
		bytes += int64(len(data))
		ev := fetchplan.Event{Kind: fetchplan.BlockArrived, Want: id, CID: c}
		if chunk.HasLinks(c) {
			ls, err := chunk.Links(c, data) // verified well formed already
			if err != nil {
				return err
			}
			ev.Links = ls
		}
		f.landed(c)
		f.send(ev)
		return nil
	}
	start := time.Now()
	dontHave, err := f.n.client.Want(f.ctx, p, batch, onBlock)
	if slotted {
		f.n.releaseWantSlot()
	}
	ev := fetchplan.Event{Kind: fetchplan.WantDone, Want: id, CIDs: dontHave,
		Bytes: bytes, Elapsed: time.Since(start)}
	switch {
	case err == nil:
	case f.ctx.Err() != nil:
		return // the fetch has ended: nobody listens
	case errors.Is(err, errFetchStore), errors.Is(err, exchange.ErrBadContent):
		// A full disk, or a DAG whose own bytes are malformed: no other
		// provider can help, and this one did nothing wrong.
		ev.Outcome, ev.Err = fetchplan.WantFatal, err
	case errors.Is(err, exchange.ErrProtocol):
		ev.Outcome = fetchplan.WantViolation
		f.n.misbehaved(p, err)
	default:
		// A stall or a dropped connection.
		ev.Outcome = fetchplan.WantFailed
	}
	f.send(ev)
}

// landed notes that c is stored, and wakes the readers waiting for a
// block.
func (f *fetch) landed(c cid.Cid) {
	f.mu.Lock()
	f.stored = append(f.stored, c.Hash())
	if f.waiting {
		close(f.arrived)
		f.arrived = make(chan struct{})
		f.waiting = false
	}
	f.mu.Unlock()
}

// lookup asks the DHT for providers of c and, at the same time, the
// connected peers whether they hold it, and hands the usable ones to the
// loop. The DHT alone misses a block its holder has not announced yet: a
// node that added a file while alone announces it only once its provider
// notices it has peers, which takes seconds after the first one connects.
func (f *fetch) lookup(c cid.Cid) {
	defer f.wg.Done()
	var ids []string
	for _, p := range f.n.findHolders(f.ctx, c) {
		ids = append(ids, string(p))
	}
	f.send(fetchplan.Event{Kind: fetchplan.ProvidersFound, Peers: ids})
}

// findHolders asks the DHT for providers of c and, at the same time, the
// connected peers whether they hold it; it returns the usable ones, each
// once.
func (n *Node) findHolders(ctx context.Context, c cid.Cid) []peer.ID {
	near := make(chan []peer.ID, 1)
	go func() { near <- n.askNeighbours(ctx, c) }()
	provs, _, err := n.dht.FindProviders(ctx, c, providersWant)
	if err != nil && ctx.Err() == nil {
		n.logf("fetch: find providers of %s: %v", c, err)
	}
	var ids []peer.ID
	seen := map[peer.ID]bool{}
	for _, ai := range provs {
		if !n.usable(ai.ID) || seen[ai.ID] {
			continue
		}
		seen[ai.ID] = true
		if len(ai.Addrs) > 0 {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		}
		ids = append(ids, ai.ID)
	}
	for _, p := range <-near {
		if !seen[p] {
			seen[p] = true
			ids = append(ids, p)
		}
	}
	return ids
}

// neighboursAsked bounds the connected peers a lookup asks directly, and
// neighbourWait how long it waits for their answers.
const (
	neighboursAsked = 16
	neighbourWait   = 2 * time.Second
)

// askNeighbours returns the connected peers (up to neighboursAsked) that
// say they hold c.
func (n *Node) askNeighbours(ctx context.Context, c cid.Cid) []peer.ID {
	ctx, cancel := context.WithTimeout(ctx, neighbourWait)
	defer cancel()
	var (
		mu   sync.Mutex
		have []peer.ID
		wg   sync.WaitGroup
	)
	asked := 0
	for _, p := range n.host.Network().Peers() {
		if asked == neighboursAsked {
			break
		}
		if !n.usable(p) {
			continue
		}
		asked++
		wg.Add(1)
		go func(p peer.ID) {
			defer wg.Done()
			ok, err := n.client.Have(ctx, p, []cid.Cid{c})
			if err == nil && ok[0] {
				mu.Lock()
				have = append(have, p)
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	return have
}

// prioritize tells the fetch that a reader waits for c. The fetch walks
// the file in order, so without this a read at the end of a large file
// (a seek, a byte range) would wait for everything before it.
func (f *fetch) prioritize(c cid.Cid) {
	f.send(fetchplan.Event{Kind: fetchplan.ReaderWaits, CID: c})
}

// waitChan returns a channel closed when the next block arrives.
func (f *fetch) waitChan() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting = true
	return f.arrived
}

// announce provides the blocks the fetch stored, and starts their commit
// in the background; call it once run has returned. The fetch does not
// wait for the commit (the blocks are copies of data kept elsewhere), but
// peers are told of a block (HAVE, PROVE) only once it is committed, and
// without a commit of its own a small fetch on a quiet node would wait
// for the next write's.
func (f *fetch) announce() error {
	f.mu.Lock()
	keys := f.stored
	f.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	f.n.goBG(func() {
		if err := f.n.Local.Sync(); err != nil && f.n.ctx.Err() == nil {
			f.n.logf("fetch: commit of %d fetched blocks: %v", len(keys), err)
		}
	})
	return f.n.provideNow(keys)
}
