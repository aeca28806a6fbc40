package node

import (
	"context"
	"sync"
	"time"

	"github.com/cairnstore/cairn/node/pinset"
)

// pinLinger is how long the set entries of adds made with a write quorum
// of one wait for others to join their delta. Each delta costs the same
// whatever it carries (two synced writes, a broadcast, a merge and an
// indexer pass), and committing as soon as one ended gave deltas of about
// six entries under 16 concurrent adders, whose background work then took
// half of the daemon's CPU and slowed the adds' own commits; the entries
// are listed as pending meanwhile (pendingPubs), so nothing waits on them
// but other nodes, and those learn of a pin through gossip anyway.
const pinLinger = 20 * time.Millisecond

// pinBatch gathers the entries of W=1 adds and puts them in the set
// together, from one background run at a time that lingers before each
// delta.
type pinBatch struct {
	ctx     context.Context // the node's: closing it ends the runs
	goBG    func(func()) bool
	publish func(context.Context, []pinset.Pin)
	linger  time.Duration

	mu      sync.Mutex
	pins    []pinset.Pin
	dones   []func()
	running bool
}

// add queues pins; done is called once they are in the set, or once that
// failed or the node closed (the start-up reconcile puts them in then:
// they are durable in this node's own pin records already).
func (b *pinBatch) add(pins []pinset.Pin, done func()) {
	b.mu.Lock()
	b.pins = append(b.pins, pins...)
	b.dones = append(b.dones, done)
	if b.running {
		b.mu.Unlock()
		return
	}
	b.running = true
	b.mu.Unlock()
	if !b.goBG(b.run) {
		b.mu.Lock()
		dones := b.dones
		b.pins, b.dones, b.running = nil, nil, false
		b.mu.Unlock()
		for _, d := range dones {
			d()
		}
	}
}

// run publishes what is queued, a linger apart, until the queue is empty
// or the node closes.
func (b *pinBatch) run() {
	t := time.NewTimer(b.linger)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.ctx.Done():
		}
		b.mu.Lock()
		pins, dones := b.pins, b.dones
		b.pins, b.dones = nil, nil
		closed := b.ctx.Err() != nil
		// Decided once, under the lock: a run that saw the node close
		// after it has let go of running would strand what add queues
		// meanwhile (add starts no run while one is running).
		stop := len(dones) == 0 || closed
		if stop {
			b.running = false
		}
		b.mu.Unlock()
		if len(pins) > 0 && !closed {
			b.publish(b.ctx, pins)
		}
		for _, d := range dones {
			d()
		}
		if stop {
			return
		}
		// Closed during the publish: the next turn finds ctx done at once
		// and releases what came meanwhile.
		t.Reset(b.linger)
	}
}
