// Package fetchplan decides how a fetch of a DAG proceeds: which blocks
// to ask of which provider, when to move a block to another provider,
// when to look providers up and when to give up. It is a pure state
// machine in the manner of etcd raft's Step/Tick/Ready: the driver
// (node/fetch.go) feeds it events (a block arrived, a want ended, a
// lookup named providers, the clock moved) and performs the actions it
// hands out (check the store, send a want, look providers up). It does
// no I/O, reads no clock and starts no goroutine, so that tests can drive
// a fetch step by step (testdata/*.txt).
//
// A Plan is not safe for concurrent use: one goroutine owns it.
package fetchplan

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
)

var (
	// ErrNoProvider means no provider was ever known for the fetch's
	// blocks within its stall timeout.
	ErrNoProvider = errors.New("no provider has the block")
	// ErrStalled means providers were known but nothing arrived for the
	// fetch's stall timeout.
	ErrStalled = errors.New("providers found but nothing arrived in time")
)

const (
	// DefaultWindow is the wants in flight per provider when
	// Config.Window is 0.
	DefaultWindow = 16
	// DefaultBatch is the CIDs per want when Config.Batch is 0: 16
	// leaves are 4 MiB.
	DefaultBatch = 16
	// maxPeerFailures is how many transient failures set a provider
	// aside (until a lookup names it again).
	maxPeerFailures = 3
	// Lookups of providers wait firstRetryWait after the first one,
	// doubling up to maxRetryWait: a block just added elsewhere may still
	// be on its way into the DHT.
	firstRetryWait = 250 * time.Millisecond
	maxRetryWait   = 5 * time.Second
)

// Config sets up a Plan.
type Config struct {
	// Root is the block the fetch starts from.
	Root cid.Cid
	// Providers are asked first; the driver leaves out itself and
	// banned peers.
	Providers []string
	// Window is how many wants may be in flight on one provider
	// (default DefaultWindow); wants for blocks a reader waits for go
	// past it.
	Window int
	// Batch is how many CIDs one want asks for (default DefaultBatch).
	Batch int
	// StallTimeout fails the fetch when no block has arrived for this
	// long, not counting time spent waiting for a node-wide want slot
	// (0: never).
	StallTimeout time.Duration
}

// blockState is where one block of the fetch stands.
type blockState uint8

const (
	resolving blockState = iota + 1 // a Resolve asks the store
	queued                          // wanted, not in flight
	inflight                        // in a want
	held                            // in the store
)

type block struct {
	st     blockState
	urgent bool // a reader waits for it
	at     pos  // its place in the DAG; dropped once held
}

// provider is what the plan knows of one provider.
type provider struct {
	id       string
	inflight int
	rate     float64 // bytes per second, smoothed; 0 until measured
	failures int
	dead     bool // set aside until a lookup names it again
}

type want struct {
	peer *provider
	cids []cid.Cid
}

// Plan is the state of one fetch.
type Plan struct {
	cfg Config

	// blocks is the visited set: every block the fetch has come across,
	// however many links reach it, is handled once.
	blocks map[cid.Cid]block
	open   int       // blocks not held yet
	queue  queue     // queued blocks, in the DAG's depth-first order
	urgent []cid.Cid // blocks a reader waits for, in no want yet

	refused      map[cid.Cid][]string // who lacks or failed each block
	refusedOrder []cid.Cid            // refused's keys, first refusal first

	peers  []*provider // in the order they became known
	byID   map[string]*provider
	live   []*provider // scratch for dispatch
	found  bool        // a provider was ever known
	wants  map[WantID]*want
	nextID WantID

	slots     int  // node-wide slots granted and not yet used
	starved   bool // NoSlot, and no slot freed since
	askedSlot bool // a TakeSlot is unanswered

	lookups   int  // in flight (at most one)
	recheck   bool // a block may have nobody to ask: see orphan
	retryAt   time.Time
	retryWait time.Duration

	now      time.Time
	progress time.Time // last tick that saw a block arrive (or a slot wait)
	moved    bool      // a block arrived, or a slot wait ended, since the last tick

	out, spare []Action
	err        error
	ended      bool // Fail or Done handed out
}

// New returns the plan of a fetch of cfg.Root. Its first Ready asks the
// driver to resolve the root.
func New(cfg Config) *Plan {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	p := &Plan{
		cfg:       cfg,
		blocks:    map[cid.Cid]block{},
		refused:   map[cid.Cid][]string{},
		byID:      map[string]*provider{},
		wants:     map[WantID]*want{},
		retryWait: firstRetryWait,
	}
	p.addPeers(cfg.Providers)
	p.add(cfg.Root, "", false)
	p.emit(Action{Kind: Resolve, CIDs: []cid.Cid{cfg.Root}})
	return p
}

// Found reports whether a provider was ever known.
func (p *Plan) Found() bool { return p.found }

// Step feeds the plan one event.
func (p *Plan) Step(ev Event) {
	if p.ended {
		return
	}
	switch ev.Kind {
	case Resolved:
		p.resolved(ev.CIDs, ev.Held)
	case BlockArrived:
		p.blockArrived(ev.CID, ev.Links)
	case WantDone:
		p.wantDone(ev)
	case ProvidersFound:
		p.lookups = max(p.lookups-1, 0) // the driver may hand in providers unasked
		p.recheck = true
		p.addPeers(ev.Peers)
	case ReaderWaits:
		p.readerWaits(ev.CID)
	case SlotGranted:
		p.askedSlot = false
		p.slots++
		p.unstarve()
	case NoSlot:
		p.askedSlot = false
		// Waiting for a slot is not the providers' fault: the stall clock
		// stops until one frees.
		p.starved = true
	case SlotFreed:
		p.unstarve()
	}
}

// unstarve ends a wait for a slot: the stall clock runs again from the
// next tick (the plan's clock may be old, as nothing ticks a plan that
// waits for a slot).
func (p *Plan) unstarve() {
	if p.starved {
		p.starved = false
		p.moved = true
	}
}

// Tick tells the plan the time; it fails the fetch if it has stalled.
func (p *Plan) Tick(now time.Time) {
	p.now = now
	if p.progress.IsZero() || p.moved || p.starved {
		p.progress = now
		p.moved = false
	}
	if p.ended || p.err != nil || p.cfg.StallTimeout <= 0 || now.Sub(p.progress) < p.cfg.StallTimeout {
		return
	}
	if !p.found {
		p.fail(fmt.Errorf("%w (within %v)", ErrNoProvider, p.cfg.StallTimeout))
		return
	}
	p.fail(fmt.Errorf("%w (%v without a block)", ErrStalled, p.cfg.StallTimeout))
}

// NextDeadline is when the plan next needs a Tick even if no event comes
// (a stall check, a lookup retry); zero if never.
func (p *Plan) NextDeadline() time.Time {
	var next time.Time
	if p.lookups == 0 && p.retryAt.After(p.now) {
		next = p.retryAt
	}
	if p.cfg.StallTimeout > 0 && !p.starved {
		if s := p.progress.Add(p.cfg.StallTimeout); next.IsZero() || s.Before(next) {
			next = s
		}
	}
	return next
}

func (p *Plan) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *Plan) emit(a Action) { p.out = append(p.out, a) }

// addPeers adds providers, or gives one that was set aside another
// chance: a lookup named it again, so it may have what it lacked.
func (p *Plan) addPeers(ids []string) {
	for _, id := range ids {
		p.found = true
		if pr, ok := p.byID[id]; ok {
			if pr.dead {
				pr.dead, pr.failures = false, 0
				p.forgetRefusals(id)
			}
			continue
		}
		pr := &provider{id: id}
		p.byID[id] = pr
		p.peers = append(p.peers, pr)
	}
}

func (p *Plan) forgetRefusals(id string) {
	for c, ids := range p.refused {
		for i, r := range ids {
			if r == id {
				p.refused[c] = append(ids[:i:i], ids[i+1:]...)
				break
			}
		}
	}
}

// discover adds the links of the block at parent that were not seen
// before to the visited set, and asks the driver to resolve them.
func (p *Plan) discover(parent pos, links []cid.Cid) {
	var fresh []cid.Cid
	for i, c := range links {
		if p.add(c, parent.child(i), false) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) > 0 {
		p.emit(Action{Kind: Resolve, CIDs: fresh})
	}
}

// add puts c, at place at, in the visited set unless it is there already
// (the first place a block is found at is its place); urgent marks it as
// awaited by a reader.
func (p *Plan) add(c cid.Cid, at pos, urgent bool) bool {
	if _, seen := p.blocks[c]; seen {
		return false
	}
	p.blocks[c] = block{st: resolving, urgent: urgent, at: at}
	p.open++
	return true
}

func (p *Plan) resolved(missing []cid.Cid, heldBlocks []Held) {
	p.requeue(missing, resolving)
	for _, h := range heldBlocks {
		if b := p.blocks[h.CID]; b.st == resolving {
			p.blocks[h.CID] = block{st: held}
			p.open--
			p.discover(b.at, h.Links)
		}
	}
}

// requeue puts the blocks among cids that are in state from back in the
// queue, at their place in the DAG's order, and those a reader waits for
// among the urgent ones.
func (p *Plan) requeue(cids []cid.Cid, from blockState) {
	for _, c := range cids {
		b := p.blocks[c]
		if b.st != from {
			continue
		}
		b.st = queued
		p.blocks[c] = b
		p.queue.push(c, b.at)
		p.recheck = true
		if b.urgent {
			p.urgent = append(p.urgent, c)
		}
	}
}

func (p *Plan) blockArrived(c cid.Cid, links []cid.Cid) {
	b := p.blocks[c]
	if b.st != inflight {
		return
	}
	p.blocks[c] = block{st: held}
	p.open--
	p.moved = true
	if len(links) > 0 {
		p.discover(b.at, links)
	}
}

func (p *Plan) wantDone(ev Event) {
	w, ok := p.wants[ev.Want]
	if !ok {
		return
	}
	delete(p.wants, ev.Want)
	p.recheck = true // a refusal or a provider set aside may leave a block with nobody to ask
	pr := w.peer
	pr.inflight--
	for _, c := range ev.CIDs {
		p.refuse(c, pr.id)
	}
	switch ev.Outcome {
	case WantOK:
		if ev.Bytes > 0 {
			r := float64(ev.Bytes) / max(ev.Elapsed.Seconds(), 1e-6)
			if pr.rate == 0 {
				pr.rate = r
			} else {
				pr.rate = 0.7*pr.rate + 0.3*r
			}
		}
	case WantFailed:
		// Try elsewhere first (the failure count sorts the provider
		// back), and set it aside after a few.
		if pr.failures++; pr.failures >= maxPeerFailures {
			pr.dead = true
		}
	case WantViolation:
		pr.dead = true
	case WantFatal:
		p.fail(ev.Err)
	}
	// Whatever did not come goes back to its place, near the front, for
	// another provider if this one lacked it.
	p.requeue(w.cids, inflight)
}

func (p *Plan) refuse(c cid.Cid, id string) {
	ids, ok := p.refused[c]
	if !ok {
		p.refusedOrder = append(p.refusedOrder, c)
	}
	p.refused[c] = append(ids, id)
}

func (p *Plan) isRefused(c cid.Cid, id string) bool {
	for _, r := range p.refused[c] {
		if r == id {
			return true
		}
	}
	return false
}

// readerWaits moves c ahead of the queue: the fetch walks the DAG in
// order, so without this a read at the end of a large file (a seek, a
// byte range) would wait for everything before it.
func (p *Plan) readerWaits(c cid.Cid) {
	b, ok := p.blocks[c]
	switch {
	case !ok:
		// Not come across yet: find out whether it is held meanwhile.
		// Its place is unknown: at the top, so that what it links to comes
		// first (a reader that seeks reads on from there).
		p.add(c, "", true)
		p.emit(Action{Kind: Resolve, CIDs: []cid.Cid{c}})
	case b.st == resolving:
		b.urgent = true
		p.blocks[c] = b
	case b.st == queued && !b.urgent:
		// In the next batch to go out it comes soon anyway: a reader
		// reading straight through waits on these.
		if p.queue.within(p, c, p.cfg.Batch) {
			return
		}
		b.urgent = true
		p.blocks[c] = b
		p.urgent = append(p.urgent, c)
	}
}

// String summarises the plan's state, for logs of a fetch that ended
// unfinished.
func (p *Plan) String() string {
	var queuedBlocks, inflightBlocks, resolvingBlocks int
	for _, b := range p.blocks {
		switch b.st {
		case queued:
			queuedBlocks++
		case inflight:
			inflightBlocks++
		case resolving:
			resolvingBlocks++
		}
	}
	s := fmt.Sprintf("%d blocks (%d not held: %d resolving, %d queued, %d in %d wants), %d refused, lookups %d (retry at +%v, recheck %v), slots %d (starved %v, asked %v)",
		len(p.blocks), p.open, resolvingBlocks, queuedBlocks, inflightBlocks, len(p.wants), len(p.refused),
		p.lookups, p.retryAt.Sub(p.now), p.recheck, p.slots, p.starved, p.askedSlot)
	for _, pr := range p.peers {
		s += fmt.Sprintf("; %s: %d in flight, %d failures, dead %v, %.0f B/s", pr.id, pr.inflight, pr.failures, pr.dead, pr.rate)
	}
	return s
}
