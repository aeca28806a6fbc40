package node

import (
	"context"
	"sync"

	"github.com/cairnstore/cairn/node/pinset"
)

// pendingPubs tracks the pins an add with W=1 puts in the cluster's set
// after it has returned (publish), and the start-up reconcile, so that an
// add's pin is listed, found and unpinnable as soon as the add returns.
// Without that, `pin ls` right after an import missed most of its pins,
// and an unpin that came first was undone by the pin landing after it.
// Listings, look-ups and the totals take the pending pins beside the
// set's; a change of the set (an unpin) waits for the publishes begun
// before it.
type pendingPubs struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]pendingPub
}

type pendingPub struct {
	pins []pinset.Pin
	done chan struct{}
}

// begin records a publish of pins; done, called once it has ended
// (whether it succeeded or not), releases those waiting for it.
func (p *pendingPubs) begin(pins []pinset.Pin) (done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open = map[uint64]pendingPub{}
	}
	id, pub := p.next, pendingPub{pins: pins, done: make(chan struct{})}
	p.next++
	p.open[id] = pub
	return func() {
		p.mu.Lock()
		delete(p.open, id)
		p.mu.Unlock()
		close(pub.done)
	}
}

// wait returns once every publish begun before it has ended, or with
// ctx's error. Publishes begun meanwhile are not waited for, so a steady
// stream of adds cannot hold a reader up.
func (p *pendingPubs) wait(ctx context.Context) error {
	p.mu.Lock()
	chs := make([]chan struct{}, 0, len(p.open))
	for _, pub := range p.open {
		chs = append(chs, pub.done)
	}
	p.mu.Unlock()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// any reports whether pins are on their way to the set.
func (p *pendingPubs) any() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open) > 0
}

// pins returns the pins on their way to the set, by root (the last
// begun wins where two publish one root).
func (p *pendingPubs) pins() map[string]pinset.Pin {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]pinset.Pin{}
	for _, pub := range p.open {
		for _, pin := range pub.pins {
			if old, ok := out[pin.Root.KeyString()]; !ok || pin.At.After(old.At) {
				out[pin.Root.KeyString()] = pin
			}
		}
	}
	return out
}
