package fetchplan

import (
	"cmp"
	"slices"

	"github.com/ipfs/go-cid"
)

// Ready hands out what the driver is to do now: the actions that the
// events since the last call led to, wants for every provider with room,
// a lookup if some block has nobody to ask, and Fail or Done at the end
// (after which Ready hands out nothing more). The slice is valid until
// the next call of Ready; the CIDs in it are the driver's to keep.
func (p *Plan) Ready() []Action {
	if !p.ended {
		p.decide()
	}
	out := p.out
	p.out, p.spare = p.spare[:0], out
	return out
}

func (p *Plan) decide() {
	if p.err != nil {
		p.out = append(p.out[:0], Action{Kind: Fail, Err: p.err})
		p.ended = true
		return
	}
	if p.open == 0 {
		p.out = append(p.out[:0], Action{Kind: Done})
		p.ended = true
		return
	}
	live := p.liveProviders()
	p.dispatchUrgent(live)
	p.dispatch(live)
	for ; p.slots > 0; p.slots-- {
		// Granted, then nothing to send after all: give it back at once,
		// as other fetches may wait for it.
		p.emit(Action{Kind: ReleaseSlot})
	}
	p.lookup(live)
}

// liveProviders returns the providers not set aside, best first: fewer
// failures first; then unmeasured ones, so that each gets tried; then
// the fastest.
func (p *Plan) liveProviders() []*provider {
	live := p.live[:0]
	for _, pr := range p.peers {
		if !pr.dead {
			live = append(live, pr)
		}
	}
	slices.SortStableFunc(live, func(a, b *provider) int {
		if a.failures != b.failures {
			return cmp.Compare(a.failures, b.failures)
		}
		if (a.rate == 0) != (b.rate == 0) {
			if a.rate == 0 {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.rate, a.rate)
	})
	p.live = live
	return live
}

// dispatchUrgent sends each block a reader waits for in a want of its
// own, to the best provider that may have it, past the window and with
// no node-wide slot: it must not wait behind the wants already in
// flight. A reader waits on a few blocks at a time (the one it reads and
// its read-ahead), so these stay few.
func (p *Plan) dispatchUrgent(live []*provider) {
	rest := p.urgent[:0]
	for _, c := range p.urgent {
		if b := p.blocks[c]; b.st != queued || !b.urgent {
			continue // in flight already, or here
		}
		sent := false
		for _, pr := range live {
			if !p.isRefused(c, pr.id) {
				p.send(pr, []cid.Cid{c}, false)
				sent = true
				break
			}
		}
		if !sent {
			rest = append(rest, c)
		}
	}
	clear(p.urgent[len(rest):])
	p.urgent = rest
}

// dispatch fills every provider's window with batches from the front of
// the queue, best provider first, each want with a node-wide slot.
func (p *Plan) dispatch(live []*provider) {
	for _, pr := range live {
		for pr.inflight < p.cfg.Window {
			if p.slots == 0 {
				if !p.queue.first(p, pr.id).Defined() {
					break // nothing pr may be asked for: try the next one
				}
				if !p.starved && !p.askedSlot {
					p.askedSlot = true
					p.emit(Action{Kind: TakeSlot})
				}
				return
			}
			batch := p.queue.take(p, pr.id, p.cfg.Batch)
			if len(batch) == 0 {
				break
			}
			p.slots--
			p.send(pr, batch, true)
		}
	}
}

func (p *Plan) send(pr *provider, cids []cid.Cid, slotted bool) {
	for _, c := range cids {
		b := p.blocks[c]
		b.st = inflight
		p.blocks[c] = b
	}
	p.nextID++
	p.wants[p.nextID] = &want{peer: pr, cids: cids}
	pr.inflight++
	p.emit(Action{Kind: SendWant, Want: p.nextID, Peer: pr.id, CIDs: cids, Slotted: slotted})
}

// lookup asks for providers when some block has nobody to ask: one
// lookup at a time, by that block's CID (the providers of one block of a
// file usually hold the rest), the first at once and the next after a
// growing backoff.
func (p *Plan) lookup(live []*provider) {
	if p.lookups > 0 || p.now.Before(p.retryAt) || !p.recheck {
		return
	}
	c, ok := p.orphan(live)
	if !ok {
		p.recheck = false
		return
	}
	p.lookups++
	p.retryAt = p.now.Add(p.retryWait)
	p.retryWait = min(2*p.retryWait, maxRetryWait)
	p.emit(Action{Kind: FindProviders, CID: c})
}

// orphan finds a queued block that no live provider may be asked for.
// Only refused blocks can be such while a provider lives, so it looks at
// those rather than the whole queue; and only when recheck says that
// something that could make one has happened since it last found none.
func (p *Plan) orphan(live []*provider) (cid.Cid, bool) {
	if len(live) == 0 {
		for _, c := range p.urgent {
			if p.blocks[c].st == queued {
				return c, true
			}
		}
		c := p.queue.first(p, "")
		return c, c.Defined()
	}
	kept := p.refusedOrder[:0]
	var found cid.Cid
	for _, c := range p.refusedOrder {
		st := p.blocks[c].st
		if st == held {
			delete(p.refused, c) // done with: forget its refusals
			continue
		}
		kept = append(kept, c)
		if found.Defined() || st != queued {
			continue
		}
		if !slices.ContainsFunc(live, func(pr *provider) bool { return !p.isRefused(c, pr.id) }) {
			found = c
		}
	}
	clear(p.refusedOrder[len(kept):])
	p.refusedOrder = kept
	return found, found.Defined()
}
