package model

import "slices"

// Peer states of one lookup, as in kad-dht's qpeerset.
const (
	stateHeard       uint8 = iota + 1 // known, not yet queried
	stateWaiting                      // queried, reply not processed
	stateQueried                      // replied
	stateUnreachable                  // the dial failed
)

// params are the Kademlia parameters of a lookup.
type params struct {
	k     int // bucket size: peers per reply, seeds, follow-up width
	alpha int // queries outstanding at once
	beta  int // closest peers that must have replied to end the lookup
}

// lookupStats measure one FindProviders lookup as cairn's dht.LookupStats
// does.
type lookupStats struct {
	Found bool // a provider was found
	Local bool // the source held the record itself: 0 RPCs, 0 hops
	RPCs  int  // queries sent (kad-dht's SendingQuery events)
	// Hops is what cairn's dht package reports: the deepest referral
	// depth among all peers queried by the time the provider came back,
	// queries still in flight included, or over the whole lookup if no
	// provider came.
	Hops int
	// AnswerDepth is the referral depth of the peer that returned the
	// provider itself (0 if none did). It is at most Hops.
	AnswerDepth int
}

// looker replays kad-dht lookups over a network. It keeps per-peer state
// in arrays stamped with a generation number, so a lookup costs nothing
// per peer of the network and one looker serves every lookup of a run.
type looker struct {
	net     *network
	par     params
	offline []bool // nil when every peer is up

	gen   uint32
	seen  []uint32 // seen[p] == gen: p is in the peerset, state[p] valid
	state []uint8
	named []uint32 // named[p] == gen: the tracer knows depth[p]
	depth []int32

	ps         []candidate // the peerset, nearest to target first
	numHeard   int
	numWaiting int
	fifo       []uint32 // queries sent whose replies are due, oldest first
	head       int
	buf        []candidate
	spawn      []uint32

	// the lookup in progress
	target      kadID
	src         uint32
	holders     []uint32
	rpcs, hops  int
	found       bool
	answerHops  int
	answerDepth int
}

func newLooker(net *network, par params, offline []bool) *looker {
	n := net.size()
	return &looker{
		net: net, par: par, offline: offline,
		seen: make([]uint32, n), state: make([]uint8, n),
		named: make([]uint32, n), depth: make([]int32, n),
	}
}

func (l *looker) begin(src uint32, target kadID, holders []uint32) {
	l.gen++
	if l.gen == 0 { // wrapped: old stamps could pass for new ones
		clear(l.seen)
		clear(l.named)
		l.gen = 1
	}
	l.ps, l.fifo, l.head = l.ps[:0], l.fifo[:0], 0
	l.numHeard, l.numWaiting = 0, 0
	l.target, l.src, l.holders = target, src, holders
	l.rpcs, l.hops = 0, 0
	l.found, l.answerHops, l.answerDepth = false, 0, 0
}

// lookup runs FindProviders(key, count 1) from src for a key at target
// whose provider record is held by holders, following kad-dht's
// findProvidersAsyncRoutine, runLookupWithFollowup and query.run.
func (l *looker) lookup(src uint32, target kadID, holders []uint32) lookupStats {
	l.begin(src, target, holders)
	if l.holds(src) {
		// The local provider store answers before any lookup starts.
		return lookupStats{Found: true, Local: true}
	}
	// Seeds: the k nearest peers of our own table. With none, kad-dht
	// fails with ErrLookupFailure before sending anything.
	l.buf = l.net.nearest(l.buf, src, target, l.par.k)
	for _, c := range l.buf {
		l.tryAdd(c)
	}
	if !l.run() {
		l.drain()
		if !l.found {
			l.followUp()
		}
	}
	st := lookupStats{Found: l.found, RPCs: l.rpcs, Hops: l.hops}
	if l.found {
		st.Hops, st.AnswerDepth = l.answerHops, l.answerDepth
	}
	return st
}

// run is query.run: after each update (the seeds first, then one reply at
// a time) it checks the stop function, starvation and beta termination,
// then tops up to alpha outstanding queries to the closest heard peers.
// It reports whether the stop function (a provider found) ended it.
func (l *looker) run() bool {
	for {
		switch {
		case l.found:
			return true
		case l.numHeard == 0 && l.numWaiting == 0:
			return false // starvation
		case l.betaDone():
			return false
		}
		for _, p := range l.closestHeard(l.par.alpha - l.numWaiting) {
			l.setState(p, stateWaiting)
			l.fifo = append(l.fifo, p)
			if !l.isOffline(p) {
				// An offline peer fails at the dial, before
				// the query function publishes SendingQuery.
				l.send(p)
			}
		}
		if l.head == len(l.fifo) {
			return false // nothing in flight: cannot happen after the checks above
		}
		p := l.fifo[l.head]
		l.head++
		if l.isOffline(p) {
			l.setState(p, stateUnreachable)
			continue
		}
		if closer, provider := l.respond(p); provider {
			l.answer(p)
		} else {
			l.traceReply(p, closer)
			for _, c := range closer {
				l.tryAdd(c)
			}
		}
		l.setState(p, stateQueried)
	}
}

// drain completes the queries still in flight when the lookup ended on
// its own. kad-dht lets them finish (they run under the lookup's context,
// not the cancelled path context): a provider they return still counts,
// and the tracer still sees their replies, but the peerset no longer
// changes.
func (l *looker) drain() {
	for ; l.head < len(l.fifo); l.head++ {
		p := l.fifo[l.head]
		if l.isOffline(p) {
			continue
		}
		closer, provider := l.respond(p)
		if provider {
			l.answer(p)
			return
		}
		l.traceReply(p, closer)
	}
}

// followUp is runLookupWithFollowup's second round: every peer among the
// k closest not known unreachable that was only heard of, or was still in
// flight at the end, is queried again, all at once. Those queries call the
// query function directly, so each counts as sent even if the peer turns
// out to be offline.
func (l *looker) followUp() {
	l.spawn = l.spawn[:0]
	n := 0
	for _, c := range l.ps {
		st := l.state[c.p]
		if st == stateUnreachable {
			continue
		}
		if n++; n > l.par.k {
			break
		}
		if st == stateHeard || st == stateWaiting {
			l.spawn = append(l.spawn, c.p)
		}
	}
	for _, p := range l.spawn {
		l.send(p)
	}
	for _, p := range l.spawn {
		if l.isOffline(p) {
			continue
		}
		closer, provider := l.respond(p)
		if provider {
			l.answer(p)
			return // the stop function cancels the rest
		}
		l.traceReply(p, closer)
	}
}

func (l *looker) isOffline(p uint32) bool { return l.offline != nil && l.offline[p] }

func (l *looker) holds(p uint32) bool { return slices.Contains(l.holders, p) }

// respond is peer p's GET_PROVIDERS reply as the lookup uses it. A peer
// holding the record returns the provider, and with count 1 kad-dht's
// query function then returns no closer peers (and publishes no reply
// event). Otherwise the reply is handleGetProviders' closer peers: the
// k+1 nearest of p's table without the requester, cut to k.
func (l *looker) respond(p uint32) (closer []candidate, provider bool) {
	if l.holds(p) {
		return nil, true
	}
	l.buf = l.net.nearest(l.buf, p, l.target, l.par.k+1)
	out := l.buf[:0]
	for _, c := range l.buf {
		if c.p == l.src || c.p == p {
			continue
		}
		if out = append(out, c); len(out) == l.par.k {
			break
		}
	}
	return out, false
}

// send is cairn's tracer seeing SendingQuery: one RPC, and a peer nobody
// named yet came from our own table, so it is hop 1.
func (l *looker) send(p uint32) {
	l.rpcs++
	if l.named[p] != l.gen {
		l.named[p], l.depth[p] = l.gen, 1
	}
	l.hops = max(l.hops, int(l.depth[p]))
}

// traceReply is cairn's tracer seeing PeerResponse: each peer named for
// the first time is one hop deeper than the peer that named it. A seed
// named by someone before we queried it counts from there, as the tracer
// cannot tell it came from our table.
func (l *looker) traceReply(p uint32, closer []candidate) {
	d := l.depth[p] + 1
	for _, c := range closer {
		if l.named[c.p] != l.gen {
			l.named[c.p], l.depth[c.p] = l.gen, d
		}
	}
}

// answer records the first provider: cairn's FindProviders takes the
// tracer's hops at that moment.
func (l *looker) answer(p uint32) {
	if l.found {
		return
	}
	l.found, l.answerHops, l.answerDepth = true, l.hops, int(l.depth[p])
}

// tryAdd is QueryPeerset.TryAdd: a peer not yet known joins as heard.
func (l *looker) tryAdd(c candidate) {
	if l.seen[c.p] == l.gen || c.p == l.src {
		return
	}
	l.seen[c.p], l.state[c.p] = l.gen, stateHeard
	l.numHeard++
	i, _ := slices.BinarySearchFunc(l.ps, c, byDistance)
	l.ps = slices.Insert(l.ps, i, c)
}

func (l *looker) setState(p uint32, s uint8) {
	switch l.state[p] {
	case stateHeard:
		l.numHeard--
	case stateWaiting:
		l.numWaiting--
	}
	switch s {
	case stateHeard:
		l.numHeard++
	case stateWaiting:
		l.numWaiting++
	}
	l.state[p] = s
}

// closestHeard returns up to n heard peers, nearest first.
func (l *looker) closestHeard(n int) []uint32 {
	l.spawn = l.spawn[:0]
	for _, c := range l.ps {
		if len(l.spawn) >= n {
			break
		}
		if l.state[c.p] == stateHeard {
			l.spawn = append(l.spawn, c.p)
		}
	}
	return l.spawn
}

// betaDone is isLookupTermination: the beta closest peers not known
// unreachable have all replied.
func (l *looker) betaDone() bool {
	n := 0
	for _, c := range l.ps {
		if n == l.par.beta {
			break
		}
		switch l.state[c.p] {
		case stateUnreachable:
			continue
		case stateQueried:
			n++
		default:
			return false
		}
	}
	return true
}
