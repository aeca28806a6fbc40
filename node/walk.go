package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// walk probes the live peers that should hold each held chunk, then
// repairs under-replicated chunks (most endangered first, within the
// bandwidth budget) and drops surplus copies, as the policy decides.
func (r *replicator) walk(ctx context.Context) error {
	pinned, wanted, canDrop := r.wanted(ctx)
	var keys []mh.Multihash
	if err := r.n.store.ForEach(ctx, func(k mh.Multihash) error {
		if wanted(k) {
			keys = append(keys, k)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list held chunks: %w", err)
	}
	r.walks.Add(1)
	holders := r.probe(ctx, keys)
	r.audit(ctx, keys, holders)
	var q repair.Queue
	var under int64
	var drops []mh.Multihash
	var helps []helpItem
	for start := 0; start < len(keys); start += decideBatch {
		batch := keys[start:min(start+decideBatch, len(keys))]
		ds, err := r.decide(ctx, batch, holders, pinned)
		if err != nil {
			return err
		}
		for i, k := range batch {
			d := ds[i]
			if d.Live < r.cfg.Factor {
				under++
			}
			switch {
			case d.Need() > 0:
				q.Push(k, d.Live)
			case d.Help.Need() > 0:
				helps = append(helps, helpItem{k, d.Live})
			case d.Drop && canDrop:
				drops = append(drops, k)
			}
		}
	}
	drops, err := r.confirmDrops(ctx, drops, holders, pinned)
	if err != nil {
		return err
	}
	dropped, err := r.n.dropSurplus(ctx, drops)
	r.dropped.Add(int64(dropped))
	if err != nil {
		return err
	}
	r.under.Store(under)
	defer r.queued.Store(0)
	if testHookSkipOwnRepairs {
		q = repair.Queue{}
	}
	// Repairs go out pushConcurrency at a time, most endangered first,
	// within the bandwidth budget. Their proofs wait for the end and go in
	// batches of MaxProve per peer, against proofs worked out while the
	// bytes were in hand, as a write's do; a copy not proved is made again
	// on the next closest peer, proved at once.
	b := newBatchProof(q.Len())
	deferred := b.deferred()
	need := map[string]int{}
	var placedKeys []mh.Multihash
	sem := make(chan struct{}, pushConcurrency)
	var wg sync.WaitGroup
	for ctx.Err() == nil {
		r.queued.Store(int64(q.Len()))
		k, _, ok := q.Pop()
		if !ok {
			break
		}
		// Decided again just before it is carried out: a walk held back by
		// the budget runs long, and since the plan a target may have left
		// or refused another chunk (the policy then passes it over).
		ds, err := r.decide(ctx, []mh.Multihash{k}, holders, pinned)
		if err != nil {
			break
		}
		if !r.n.Has(cid.NewCidV1(cid.Raw, k)) || !wanted(k) {
			continue // freed, or unpinned, since the walk listed it
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		need[string(k)] = ds[0].Need()
		placedKeys = append(placedKeys, k)
		wg.Add(1)
		go func(k mh.Multihash, pl repair.Placement) {
			defer func() { <-sem; wg.Done() }()
			b.record(k, r.place(ctx, k, pl, r.budgetWait, deferred))
		}(k, ds[0].Placement)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.proveBatch(ctx, placedKeys, b)
	var again []mh.Multihash
	for _, k := range placedKeys {
		got := len(b.copies[string(k)].stored)
		r.pushes.Add(int64(got))
		if got < need[string(k)] {
			again = append(again, k)
		}
	}
	r.placeAll(ctx, again, func(v *repair.View, k mh.Multihash) repair.Placement {
		rc := b.copies[string(k)] // nothing records in this round
		return v.Place(k, append(slices.Clone(holders[string(k)]), rc.tried...), need[string(k)]-len(rc.stored))
	}, proveEach, func(k mh.Multihash, res placed) {
		r.pushes.Add(int64(res.made))
		if res.err != nil && ctx.Err() == nil {
			r.n.logf("repair: %d of %d copies of %s made: %v", len(b.copies[string(k)].stored)+res.made, need[string(k)], k.B58String(), res.err)
		}
	})
	r.help(ctx, helps, holders, pinned, wanted)
	return ctx.Err()
}

// wanted returns the blocks pinned here and a filter of the blocks the
// cluster wants kept at R copies: not a read's cache, nor the blocks of a
// root unpinned and waiting out its grace, but a pushed block whose root
// has not been indexed here yet. The filter is to be asked again before
// each repair: a walk held back by the budget outlasts an unpin. ok is
// false when the pins could not be read: then every block counts as
// wanted and none may be dropped.
func (r *replicator) wanted(ctx context.Context) (pinned map[string]bool, wanted func(mh.Multihash) bool, ok bool) {
	pinned, err := r.n.pinnedSet(ctx)
	if err != nil {
		r.n.logf("repair: not dropping surplus copies this walk: %v", err)
		return nil, func(mh.Multihash) bool { return true }, false
	}
	return pinned, func(k mh.Multihash) bool { return pinned[string(k)] || r.n.owed(k) }, true
}

// confirmDrops keeps the surplus drops that still stand once every other
// holder of each chunk has proved its copy: a drop lowers the number of
// copies, so a claim from an audit's sample is not enough for it.
func (r *replicator) confirmDrops(ctx context.Context, drops []mh.Multihash, holders map[string][]peer.ID, pinned map[string]bool) ([]mh.Multihash, error) {
	if len(drops) == 0 {
		return nil, nil
	}
	proven := make(map[string][]peer.ID, len(drops))
	for _, k := range drops {
		proven[string(k)] = slices.Clone(holders[string(k)])
	}
	r.proveAll(ctx, drops, proven)
	var out []mh.Multihash
	for start := 0; start < len(drops); start += decideBatch {
		batch := drops[start:min(start+decideBatch, len(drops))]
		ds, err := r.decide(ctx, batch, proven, pinned)
		if err != nil {
			return nil, err
		}
		for i, d := range ds {
			if d.Drop {
				out = append(out, batch[i])
			}
		}
	}
	return out, nil
}

// budgetWait holds a repair push back until the bandwidth budget allows
// a chunk more.
func (r *replicator) budgetWait(ctx context.Context) error {
	r.budgetMu.Lock()
	wait := r.budget.Take(chunk.ChunkSize, time.Now())
	r.budgetMu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
