package node

import (
	"context"
	"slices"
	"sync"

	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// testHookSkipOwnRepairs, set by tests, has walks leave the repairs they
// are elected for undone, as a slow or failing repairer would.
var testHookSkipOwnRepairs bool

// helpItem is a chunk below R that another holder is elected to repair.
type helpItem struct {
	key  mh.Multihash
	live int
}

// help repairs chunks other holders were elected to repair
// (repair.Decision.Help), once this node's own repairs are done. The
// elected repairers work most endangered first and, among equals, in the
// walk's key order, which every node shares; a helper starts from the
// other end, a batch at a time, and stops after the first batch in which
// a target already had its copy: there the two met. A chunk near the
// meeting point may get a copy too many, which the surplus rule allows
// for. The pushes go within the bandwidth budget, and each is proved.
func (r *replicator) help(ctx context.Context, helps []helpItem, holders map[string][]peer.ID, pinned map[string]bool, wanted func(mh.Multihash) bool) {
	slices.Reverse(helps)
	slices.SortStableFunc(helps, func(a, b helpItem) int { return b.live - a.live })
	for start := 0; start < len(helps) && ctx.Err() == nil; start += pushConcurrency {
		batch := make([]mh.Multihash, 0, pushConcurrency)
		for _, h := range helps[start:min(start+pushConcurrency, len(helps))] {
			batch = append(batch, h.key)
		}
		ds, err := r.decide(ctx, batch, holders, pinned)
		if err != nil {
			return
		}
		plans := map[string]repair.Placement{}
		ask := map[peer.ID][]mh.Multihash{}
		for i, k := range batch {
			pl := ds[i].Help
			if pl.Need() == 0 || !r.n.Has(cid.NewCidV1(cid.Raw, k)) || !wanted(k) {
				continue // repaired, freed or unpinned since the walk listed it
			}
			plans[string(k)] = pl
			for _, p := range pl.Push {
				ask[p] = append(ask[p], k)
			}
		}
		there := map[string][]peer.ID{}
		r.haveProbe(ctx, ask, there)
		met := false
		var wg sync.WaitGroup
		for _, k := range batch {
			pl, ok := plans[string(k)]
			if !ok {
				continue
			}
			if len(there[string(k)]) > 0 {
				met = true
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := r.place(ctx, k, pl, r.budgetWait, proveEach)
				r.pushes.Add(int64(res.made))
				r.helped.Add(int64(res.made))
			}()
		}
		wg.Wait()
		if met {
			return
		}
	}
}
