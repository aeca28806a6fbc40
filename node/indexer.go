package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/cairnstore/cairn/node/refs"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// The indexer keeps the reference index in step with the cluster's pin
// set: a root that joins the set has its DAG's blocks indexed (its inner
// nodes read here or, unstored, from providers: a node may hold only a
// few leaves), and a root that leaves it is marked unpinned, which starts
// its grace. Changes reach it from the set's hooks, as roots to look at
// again; it reads the set's state itself, so a hook's order or repeats do
// not matter.

// indexSoon queues root for the indexer.
func (n *Node) indexSoon(root cid.Cid) {
	n.idxMu.Lock()
	n.idxPending[root.KeyString()] = root
	n.idxMu.Unlock()
	select {
	case n.idxWake <- struct{}{}:
	default:
	}
}

// indexIdle reports whether nothing waits for the indexer: every root of
// the set it was told of is indexed (a root that failed waits to be
// tried again).
func (n *Node) indexIdle() bool {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	return len(n.idxPending) == 0 && !n.idxBusy
}

func (n *Node) indexLoop() {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.idxWake:
		case <-retry.C:
		}
		n.idxMu.Lock()
		todo := slices.Collect(maps.Values(n.idxPending))
		n.idxPending = map[string]cid.Cid{}
		n.idxBusy = len(todo) > 0
		n.idxMu.Unlock()
		for start := 0; start < len(todo); start += indexBatch {
			failed := n.indexRoots(n.ctx, todo[start:min(start+indexBatch, len(todo))])
			if n.ctx.Err() != nil {
				return
			}
			n.idxMu.Lock()
			for _, root := range failed {
				if _, again := n.idxPending[root.KeyString()]; !again {
					n.idxPending[root.KeyString()] = root
				}
			}
			n.idxMu.Unlock()
		}
		n.idxMu.Lock()
		n.idxBusy = false
		n.idxMu.Unlock()
	}
}

// indexBatch is how many roots the indexer commits at once: a migration
// or a CAR import brings thousands, each otherwise its own synced batch.
const indexBatch = 1024

// indexRoots brings the roots' index entries in line with the set: roots
// pinned are indexed (or marked pinned again) in one synced batch and
// handed over to the set in one commit of the store; roots unpinned are
// marked so. It returns the roots to try again.
func (n *Node) indexRoots(ctx context.Context, roots []cid.Cid) (failed []cid.Cid) {
	var entries []refs.Entry
	for _, root := range roots {
		e, pinned, err := n.planIndex(ctx, root)
		if err == nil && pinned {
			entries = append(entries, e)
		}
		if err != nil {
			n.logf("cluster: index %s (will retry): %v", root, err)
			failed = append(failed, root)
		}
	}
	if len(entries) == 0 {
		return failed
	}
	err := n.index.AddMany(entries)
	if err == nil {
		err = n.graduate(entries)
	}
	if err != nil {
		n.logf("cluster: index %d roots (will retry): %v", len(entries), err)
		for _, e := range entries {
			failed = append(failed, e.Root)
		}
	}
	keys := 0
	for _, e := range entries {
		keys += len(e.Keys)
	}
	if keys >= bigIndex {
		// Indexing a DAG of a million blocks holds a few hundred MiB for
		// seconds, once; the runtime would give it back to the system
		// over minutes, and a node idle after it should not sit on it.
		debug.FreeOSMemory()
	}
	return failed
}

// bigIndex is how many blocks indexed at once make it worth giving the
// memory they took back at once.
const bigIndex = 100_000

// planIndex reads root's state: a root of the set comes back as the
// entry to index (its keys, when not indexed yet) with pinned true; a
// root the set dropped is marked unpinned here and now.
func (n *Node) planIndex(ctx context.Context, root cid.Cid) (refs.Entry, bool, error) {
	e := refs.Entry{Root: root}
	// One read of the set says both whether root is pinned and by whom:
	// a Has and then a Get read the same key twice, a third of the
	// indexer's time after a bulk import.
	p, err := n.pins.Get(ctx, root)
	pinned := err == nil
	if err != nil && !errors.Is(err, pinset.ErrNotPinned) {
		return e, false, err
	}
	st, err := n.index.Root(root)
	if err != nil {
		return e, false, err
	}
	switch {
	case pinned && !st.Indexed:
		e.Keys, err = n.dagKeys(ctx, root, p.By)
		return e, err == nil, err
	case pinned:
		return e, true, nil // indexed: marked pinned again if it was not, and handed over
	case st.Indexed && st.UnpinnedAt.IsZero():
		if err := n.index.Unpin(root, time.Now()); err != nil {
			return e, false, err
		}
		if err := n.Local.Unpin(ctx, root); err != nil && !errors.Is(err, ErrNotPinned) {
			return e, false, err
		}
	}
	return e, false, nil
}

// graduate hands roots over to the set: the set's reference now keeps
// their blocks, so this node's own pins of them go, and so do the undated
// duty marks an older cairn left on their blocks (they kept replicas
// forever; the reference keeps them while the root is pinned). One
// commit covers them all.
func (n *Node) graduate(entries []refs.Entry) error {
	n.gcMu.RLock()
	defer n.gcMu.RUnlock()
	var meta []store.Meta
	for _, e := range entries {
		if ok, err := n.store.HasMeta(pinKey(e.Root)); err == nil && ok {
			meta = append(meta, store.Meta{Key: pinKey(e.Root), Delete: true})
		}
		for _, k := range e.Keys {
			if v, err := n.store.GetMeta(dutyKey(k)); err == nil && len(v) == 0 {
				meta = append(meta, store.Meta{Key: dutyKey(k), Delete: true})
			}
		}
	}
	if len(meta) == 0 {
		return nil
	}
	if err := n.store.Sync(meta...); err != nil {
		return fmt.Errorf("graduate %d roots: %w", len(entries), err)
	}
	return nil
}

// dagKeys lists every block of the DAG under root, reading the inner
// nodes here or from providers; leaves (raw blocks) are not read.
func (n *Node) dagKeys(ctx context.Context, root cid.Cid, pinner peer.ID) ([]mh.Multihash, error) {
	seen := map[string]bool{}
	var keys []mh.Multihash
	queue := []cid.Cid{root}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if chunk.IsIdentity(c) || seen[string(c.Hash())] {
			continue
		}
		seen[string(c.Hash())] = true
		keys = append(keys, c.Hash())
		if !chunk.HasLinks(c) {
			continue
		}
		data, err := n.peek(ctx, c, pinner)
		if err != nil {
			return nil, err
		}
		links, err := chunk.Links(c, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		queue = append(queue, links...)
	}
	return keys, nil
}

// reconcile brings the index and this node's own pins in line with the
// set at start: roots pinned or unpinned while the node was away are
// queued, and its own pins that the set lacks (adds made without the
// daemon, pins of a repo from before the cluster set) join the set.
func (n *Node) reconcileSet(ctx context.Context) error {
	err := n.pins.List(ctx, func(p pinset.Pin) error {
		if st, err := n.index.Root(p.Root); err != nil || !st.Indexed || !st.UnpinnedAt.IsZero() {
			n.indexSoon(p.Root)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = n.index.Roots(func(root cid.Cid, st refs.State) error {
		if st.UnpinnedAt.IsZero() {
			n.indexSoon(root)
		}
		return nil
	})
	if err != nil {
		return err
	}
	type ownPin struct {
		root cid.Cid
		name string
	}
	var local []ownPin
	if err := n.Local.forEachPin(ctx, func(root cid.Cid, name string) error {
		local = append(local, ownPin{root, name})
		return nil
	}); err != nil {
		return err
	}
	var join []pinset.Pin
	for _, own := range local {
		root := own.root
		st, err := n.index.Root(root)
		if err != nil {
			return err
		}
		in, err := n.pins.Has(ctx, root)
		if err != nil {
			return err
		}
		switch {
		case in:
			n.indexSoon(root)
		case st.Indexed:
			// The set had it and dropped it while this node was away.
			if err := n.Local.Unpin(ctx, root); err != nil && !errors.Is(err, ErrNotPinned) {
				return err
			}
		default:
			size, _ := n.pinBytes(ctx, root) // a size the root does not tell is recorded as 0
			// A name the set would refuse (none recorded such, but the
			// record is read back from disk) is dropped, not the pin.
			name := own.name
			if pinset.CheckName(name) != nil {
				name = ""
			}
			join = append(join, pinset.Pin{Root: root, Name: name, By: n.host.ID(), At: time.Now().UTC(), Bytes: size})
		}
	}
	if len(join) == 0 {
		return nil
	}
	n.logf("cluster: %d pins of this node join the cluster's set", len(join))
	if err := n.pins.AddMany(ctx, join); err != nil {
		return err
	}
	for _, p := range join {
		n.indexSoon(p.Root)
	}
	return nil
}
