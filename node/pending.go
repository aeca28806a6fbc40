package node

import (
	"context"
	"sync"
)

// pendingPubs tracks the pins an add with W=1 puts in the cluster's set
// after it has returned (publish). A read or change of the set waits for
// those begun before it, so that an add's pin is listed, found and
// unpinnable as soon as the add returns: without that, `pin ls` right
// after an import missed most of its pins, and an unpin that came first
// was undone by the pin landing after it.
type pendingPubs struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]chan struct{}
}

// begin records a publish; done, called once it has ended (whether it
// succeeded or not), releases those waiting for it.
func (p *pendingPubs) begin() (done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open = map[uint64]chan struct{}{}
	}
	id, ch := p.next, make(chan struct{})
	p.next++
	p.open[id] = ch
	return func() {
		p.mu.Lock()
		delete(p.open, id)
		p.mu.Unlock()
		close(ch)
	}
}

// wait returns once every publish begun before it has ended, or with
// ctx's error. Publishes begun meanwhile are not waited for, so a steady
// stream of adds cannot hold a reader up.
func (p *pendingPubs) wait(ctx context.Context) error {
	p.mu.Lock()
	chs := make([]chan struct{}, 0, len(p.open))
	for _, ch := range p.open {
		chs = append(chs, ch)
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
