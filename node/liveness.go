package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// A connection says little about a peer: a frozen process (SIGSTOP, a
// hung disk) keeps its TCP connections open, and the kernel keeps
// acknowledging what is sent to it. So every connected peer is pinged
// every probe interval, and one that has answered no ping for three
// intervals counts as down from its last answer, as if it had
// disconnected then: the grace delay runs from there, and its chunks are
// repaired once it is over. Its first answer after that brings it back.

// ProbeEvery is the ping interval for a grace delay: an eighth of it,
// between 1 and 15 seconds, so a silent peer is noticed well within the
// grace.
func ProbeEvery(grace time.Duration) time.Duration {
	return min(max(grace/8, time.Second), 15*time.Second)
}

// SilentAfter is how long a connected peer may go without answering
// before it counts as down.
func SilentAfter(every time.Duration) time.Duration { return 3 * every }

// liveness is the probe's bookkeeping, plain data driven by answers and
// ticks so tests run it on a made-up clock.
type liveness struct {
	after    time.Duration
	answered map[peer.ID]time.Time // last answer, or when first seen connected
	silent   map[peer.ID]bool      // reported silent, not yet answered since
}

func newLiveness(after time.Duration) *liveness {
	return &liveness{after: after, answered: map[peer.ID]time.Time{}, silent: map[peer.ID]bool{}}
}

// Answered records a ping answer; it returns true when the peer had been
// reported silent (it is back).
func (l *liveness) Answered(p peer.ID, now time.Time) (back bool) {
	l.answered[p] = now
	back = l.silent[p]
	delete(l.silent, p)
	return back
}

// Tick is given the connected peers; it forgets the others and returns
// the peers newly silent, each with its last answer.
func (l *liveness) Tick(now time.Time, connected []peer.ID) map[peer.ID]time.Time {
	on := make(map[peer.ID]bool, len(connected))
	var out map[peer.ID]time.Time
	for _, p := range connected {
		on[p] = true
		last, ok := l.answered[p]
		if !ok {
			l.answered[p] = now // a new connection is an answer
			continue
		}
		if !l.silent[p] && now.Sub(last) > l.after {
			l.silent[p] = true
			if out == nil {
				out = map[peer.ID]time.Time{}
			}
			out[p] = last
		}
	}
	for p := range l.answered {
		if !on[p] {
			delete(l.answered, p)
			delete(l.silent, p)
		}
	}
	return out
}

// maxPings bounds the pings in flight at once.
const maxPings = 32

// pingLoop pings the connected peers every interval until the node closes,
// and tells the replicator of peers that fall silent and come back.
func (r *replicator) pingLoop() {
	ctx := r.n.ctx
	every := r.cfg.ProbeEvery
	switch {
	case every < 0:
		return
	case every == 0:
		every = ProbeEvery(r.cfg.GraceDelay)
	}
	live := newLiveness(SilentAfter(every))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		peers := r.n.host.Network().Peers()
		answered := r.pingAll(ctx, peers, every)
		now := time.Now()
		for _, p := range answered {
			if live.Answered(p, now) {
				r.send(peerEvent{kind: peerAnswered, p: p, at: now})
			}
		}
		for p, last := range live.Tick(now, peers) {
			r.n.logf("repair: %s connected but silent since %s: counted as down", p, last.Format(time.RFC3339))
			r.send(peerEvent{kind: peerSilent, p: p, at: last})
		}
	}
}

// pingAll pings peers, each for at most timeout, and returns those that
// answered.
func (r *replicator) pingAll(ctx context.Context, peers []peer.ID, timeout time.Duration) []peer.ID {
	var mu sync.Mutex
	var ok []peer.ID
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxPings)
	for _, p := range peers {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			select {
			case res := <-ping.Ping(pctx, r.n.host, p):
				if res.Error == nil {
					mu.Lock()
					ok = append(ok, p)
					mu.Unlock()
				}
			case <-pctx.Done():
			}
		}()
	}
	wg.Wait()
	return ok
}
