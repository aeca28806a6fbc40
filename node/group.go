package node

import (
	"errors"
	"sync"
)

// group commits items from concurrent callers together: the first caller
// to come leads and commits the items of every caller waiting, in the
// order they came, then hands the lead to the first that came during its
// commit. Many small adds so share one pin-set delta (one synced write)
// instead of one each, as the store's Sync shares one fdatasync.
type group[T any] struct {
	commit func([]T) error

	mu      sync.Mutex
	queue   []*groupReq[T]
	leading bool
}

type groupReq[T any] struct {
	items []T
	done  chan error // buffered: the leader never waits on it
}

// errGroupLead tells a waiting caller it leads the next commit.
var errGroupLead = errors.New("node: lead the next group commit")

// do commits items, with those of the callers that come meanwhile, and
// returns the commit's error. It waits for the commit however long it
// takes: the items may be committed even if the caller gave up.
func (g *group[T]) do(items ...T) error {
	req := &groupReq[T]{items: items, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.leading {
		g.mu.Unlock()
		if err := <-req.done; err != errGroupLead {
			return err
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	var all []T
	for _, r := range batch {
		all = append(all, r.items...)
	}
	err := g.commit(all)
	for _, r := range batch {
		if r != req {
			r.done <- err
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errGroupLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return err
}
