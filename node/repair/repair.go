// Package repair decides where the copies of a chunk belong and what a
// node should do about the chunks it holds: push copies to the peers that
// should have them, drop surplus copies, and in what order. It is plain
// code with no goroutines, sockets or clocks of its own, in the manner of
// etcd's raft: the node feeds it what it learns (peers seen and gone,
// peers that refused for lack of room, the live holders of a chunk from
// have-probes, the time) and carries out the decisions it returns, so
// tests and simulations drive it deterministically.
//
// Placement: a chunk's copies belong on the live peers closest to it in
// the DHT's keyspace, XOR of SHA-256 of the multihash and SHA-256 of the
// peer ID, as kad-dht and go-libp2p-kbucket compute it, so any node can
// work out where a chunk should be, and the chunks of one file spread
// over the network. Peers that refused for lack of room are passed over.
// View.Place is that rule, and writes, repairs and drains all place their
// copies by it: the closest eligible peers first, then the next closest
// as fallbacks, in order, for first choices that refuse or fail.
//
// Trust: a peer that failed a proof of possession (it claimed a block it
// could not prove it holds) is distrusted for Config.DistrustFor: it is
// no placement target and its claims are not counted. A peer that proved
// a block is vouched for as long: only vouched peers take places in
// View.Keeps, the admission rule for pushes, so peers that merely exist
// near a chunk (Sybils with ground IDs) cannot push honest ones out.
//
// Repair: when fewer than R live peers hold a chunk, one of its live
// holders, the one Repairer picks, pushes copies to the closest live
// peers that lack it; every other holder leaves it alone, so a chunk is
// repaired once, not by everyone. Repairer weighs the holders by a hash
// of the chunk and the holder (rendezvous hashing) rather than taking the
// closest: in XOR space the chunks of a region share their closest peers,
// so after a death the closest survivor of all the dead node's chunks
// was the same few nodes, and the repair went through them alone. When more than R+Slack live peers hold a chunk, the holders
// farthest from it drop their copies, unless pinned there.
package repair

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Config configures a Policy.
type Config struct {
	Self peer.ID
	// Factor is R, the live copies every chunk should have (default 3).
	Factor int
	// Slack is how many copies above R are tolerated before the farthest
	// holders drop theirs (default 2).
	Slack int
	// GraceDelay is how long a vanished peer is given to come back before
	// its chunks are repaired (default 2m).
	GraceDelay time.Duration
	// Interval is the period of the full walk (default 10m).
	Interval time.Duration
	// FullFor is how long a peer that refused for lack of room is passed
	// over (default 10m).
	FullFor time.Duration
	// DistrustFor is how long a peer that failed a proof of possession is
	// passed over, and how long a passed proof vouches for a peer
	// (default 24h).
	DistrustFor time.Duration
}

// Policy is one node's repair state. It is not safe for concurrent use:
// the node calls it from one goroutine, and hands its Views to the others.
type Policy struct {
	cfg      Config
	live     map[peer.ID]bool
	goneAt   map[peer.ID]time.Time // vanished, within the grace delay
	full     map[peer.ID]time.Time // passed over until
	failed   map[peer.ID]time.Time // distrusted until
	vouched  map[peer.ID]time.Time // proved a block; vouched for until
	started  time.Time             // first Tick
	lastWalk time.Time
	walkDue  bool
	view     *View // nil when the live or full set changed since it was built
}

// New validates cfg and returns a policy that knows only itself as live.
func New(cfg Config) (*Policy, error) {
	if cfg.Self == "" {
		return nil, errors.New("repair: no self peer ID")
	}
	if cfg.Factor == 0 {
		cfg.Factor = 3
	}
	if cfg.Slack == 0 {
		cfg.Slack = 2
	}
	if cfg.GraceDelay == 0 {
		cfg.GraceDelay = 2 * time.Minute
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Minute
	}
	if cfg.FullFor == 0 {
		cfg.FullFor = 10 * time.Minute
	}
	if cfg.DistrustFor == 0 {
		cfg.DistrustFor = 24 * time.Hour
	}
	if cfg.Factor < 1 || cfg.Slack < 0 || cfg.GraceDelay < 0 || cfg.Interval <= 0 || cfg.DistrustFor < 0 {
		return nil, fmt.Errorf("repair: invalid config %+v", cfg)
	}
	return &Policy{
		cfg:     cfg,
		live:    map[peer.ID]bool{cfg.Self: true},
		goneAt:  map[peer.ID]time.Time{},
		full:    map[peer.ID]time.Time{},
		failed:  map[peer.ID]time.Time{},
		vouched: map[peer.ID]time.Time{},
	}, nil
}

// Factor is R.
func (p *Policy) Factor() int { return p.cfg.Factor }

// PeerUp records a peer seen live. A peer back within its grace delay
// causes no repair.
func (p *Policy) PeerUp(id peer.ID) {
	if !p.live[id] {
		p.live[id] = true
		p.view = nil
	}
	delete(p.goneAt, id)
}

// PeerDown records a peer that vanished at now. Its chunks are repaired
// once the grace delay has passed without it coming back.
func (p *Policy) PeerDown(id peer.ID, now time.Time) {
	if id == p.cfg.Self || !p.live[id] {
		return
	}
	delete(p.live, id)
	p.view = nil
	p.goneAt[id] = now
}

// PeerLeft records a peer that left cleanly (drained): nothing of its
// needs repair, so no walk is scheduled for it.
func (p *Policy) PeerLeft(id peer.ID) {
	if id == p.cfg.Self {
		return
	}
	if p.live[id] {
		delete(p.live, id)
		p.view = nil
	}
	delete(p.goneAt, id)
}

// PeerFull records that a peer refused a copy for lack of room.
func (p *Policy) PeerFull(id peer.ID, now time.Time) {
	if _, ok := p.full[id]; !ok {
		p.view = nil
	}
	p.full[id] = now.Add(p.cfg.FullFor)
}

// PeerFailed records that a peer failed a proof of possession: it is
// passed over for placement, admission and counting until DistrustFor
// has passed.
func (p *Policy) PeerFailed(id peer.ID, now time.Time) {
	if id == p.cfg.Self {
		return
	}
	p.failed[id] = now.Add(p.cfg.DistrustFor)
	delete(p.vouched, id)
	p.view = nil
}

// PeerProved records that a peer proved it holds a block. A distrusted
// peer stays distrusted until its time is up: one good answer does not
// undo a lie.
func (p *Policy) PeerProved(id peer.ID, now time.Time) {
	if _, bad := p.failed[id]; bad || id == p.cfg.Self {
		return
	}
	if _, ok := p.vouched[id]; !ok {
		p.view = nil
	}
	p.vouched[id] = now.Add(p.cfg.DistrustFor)
}

// Distrusted reports whether a peer failed a proof and is still passed
// over for it.
func (p *Policy) Distrusted(id peer.ID) bool {
	_, bad := p.failed[id]
	return bad
}

// Live returns the peers currently counted live, self included.
func (p *Policy) Live() []peer.ID {
	out := make([]peer.ID, 0, len(p.live))
	for id := range p.live {
		out = append(out, id)
	}
	return out
}

// Tick advances the policy's clock. It reports whether a repair walk
// should start now: a vanished peer's grace delay has run out, or the
// periodic walk is due, or a walk was requested. A node just started
// walks only once a grace delay has passed since its first Tick: until
// its peers have reconnected, its view would count their copies as lost.
func (p *Policy) Tick(now time.Time) bool {
	for _, m := range []map[peer.ID]time.Time{p.full, p.failed, p.vouched} {
		for id, until := range m {
			if !now.Before(until) {
				delete(m, id)
				p.view = nil
			}
		}
	}
	if p.started.IsZero() {
		p.started = now
	}
	if now.Sub(p.started) < p.cfg.GraceDelay {
		return false
	}
	walk := p.walkDue
	for id, at := range p.goneAt {
		if now.Sub(at) >= p.cfg.GraceDelay {
			delete(p.goneAt, id)
			walk = true
		}
	}
	if len(p.goneAt) > 0 {
		// A walk now would count the copies of a peer still within its
		// grace delay as lost; whatever is due waits until it is back or
		// its delay has run out.
		if walk {
			p.walkDue = true
		}
		return false
	}
	if p.lastWalk.IsZero() || now.Sub(p.lastWalk) >= p.cfg.Interval {
		walk = true
	}
	if walk {
		p.lastWalk = now
		p.walkDue = false
	}
	return walk
}

// RequestWalk asks for a walk at the next Tick (after the node added or
// fetched chunks, say).
func (p *Policy) RequestWalk() { p.walkDue = true }

// View is the placement snapshot of the current live and full sets. The
// same View is returned until either changes, and it is never modified,
// so it may be read from any goroutine while the policy moves on.
func (p *Policy) View() *View {
	if p.view == nil {
		p.view = newView(p.cfg.Self, p.live, p.full, p.failed, p.vouched)
	}
	return p.view
}

// Closest returns up to n live peers (self included) closest to key,
// passing over peers that are full, nearest first.
func (p *Policy) Closest(key mh.Multihash, n int) []peer.ID {
	return p.View().Closest(key, n)
}

// Decision is what this node should do about one chunk it holds. Its
// Placement is empty unless this node is the one to repair the chunk:
// then Push names the peers to copy it to, as many as copies are missing,
// and Fallback the peers to try in order when one of them refuses or
// fails. The node carries it out as given.
type Decision struct {
	Live int // live holders counted
	Placement
	// Help is, for a chunk below R that another holder is elected to
	// repair, the placement that holder carries out. A holder done with
	// its own repairs helps with these, from the end of the elected
	// repairers' order and only until it finds a copy already made: the
	// chunks of a dead node mostly share one survivor (the node that
	// added them keeps a copy of each), which alone would repair half of
	// them while the others sat idle.
	Help Placement
	Drop bool // this node should drop its copy
}

// Decide plans one chunk from its live holders (peers that answered a
// have-probe and, where the node checked, a proof; self included if it
// holds the chunk). Distrusted peers are not counted. pinned means the
// user pinned the chunk on this node, which then never drops it.
func (p *Policy) Decide(key mh.Multihash, holders []peer.ID, pinned bool) Decision {
	var live []peer.ID
	seen := map[peer.ID]bool{}
	for _, h := range holders {
		if _, bad := p.failed[h]; p.live[h] && !bad && !seen[h] {
			seen[h] = true
			live = append(live, h)
		}
	}
	d := Decision{Live: len(live)}
	if len(live) == 0 {
		return d
	}
	live = kb.SortClosestPeers(live, kb.ConvertKey(string(key)))
	r := p.cfg.Factor
	switch {
	case len(live) < r && Repairer(key, live) == p.cfg.Self:
		// The repair is this node's job.
		d.Placement = p.View().Place(key, holders, r-len(live))
	case len(live) < r && seen[p.cfg.Self]:
		d.Help = p.View().Place(key, holders, r-len(live))
	case len(live) > r+p.cfg.Slack && !pinned:
		for _, h := range live[r+p.cfg.Slack:] {
			if h == p.cfg.Self {
				d.Drop = true
			}
		}
	}
	return d
}

// Repairer is the one of a chunk's live holders that repairs it: the
// holder with the highest SHA-256 of the key and its peer ID (rendezvous
// hashing). Every holder that sees the same holders picks the same one,
// and across chunks the work spreads evenly over all holders.
func Repairer(key mh.Multihash, holders []peer.ID) peer.ID {
	var best peer.ID
	var bestW [sha256.Size]byte
	for i, h := range holders {
		w := sha256.Sum256(append(append([]byte(nil), key...), h...))
		if i == 0 || bytes.Compare(w[:], bestW[:]) > 0 {
			best, bestW = h, w
		}
	}
	return best
}
