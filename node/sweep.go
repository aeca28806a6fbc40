package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// What a node keeps, and for how long:
//
//   - a block some root of the cluster's set reaches (the reference
//     index says so), while the repair policy counts this node among its
//     holders (surplus copies beyond R+2 are dropped by the walk);
//   - a block of a root unpinned less than the grace ago;
//   - a block this node's own pins reach (adds made without the daemon,
//     until the set takes them over);
//   - a block pushed here as a replica that no indexed root claims: while
//     the indexer still has roots to index (a root whose inner nodes are
//     not found yet, say), and then for the grace after its push (its
//     root may not have reached the set here yet); kept for good when an
//     older cairn marked it;
//   - anything else (a read's cache) until the next repo gc, or a sweep
//     that finds the store past 90% of its capacity.
//
// The sweep frees the rest on a schedule: the blocks of roots whose grace
// is over, and pushed blocks that no root claimed within the grace once
// every root of the set is indexed here. repo gc frees no pushed block.

// urgentFill is the store fill past which a sweep frees every block no
// pin needs at once, graces and caches included.
const urgentFill = 0.9

// SweepStats describe a sweep.
type SweepStats struct {
	Expired    int   // unpinned roots whose grace ended
	Freed      int64 // blocks freed
	FreedBytes int64
}

func dutyValue(at time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())) }

// dutyAge reads a duty mark: when the block was pushed here, or false
// for a mark an older cairn left (no date).
func dutyAge(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

// Sweep frees what no pin needs any more (see above). indexed says that
// every root of the cluster's set is indexed here, so that a pushed block
// no root claims is unclaimed indeed; without it, pushed blocks stay.
func (l *Local) Sweep(ctx context.Context, now time.Time, indexed bool) (SweepStats, error) {
	var st SweepStats
	grace := l.grace
	urgent := false
	if c := l.store.Capacity(); c > 0 && float64(l.store.Stats().SegmentBytes) > urgentFill*float64(c) {
		grace, urgent = 0, true
	}
	due, err := l.index.Due(now, grace)
	if err != nil {
		return st, fmt.Errorf("sweep: %w", err)
	}
	cands := map[string]mh.Multihash{}
	for _, root := range due {
		if err := l.index.Keys(root, func(k mh.Multihash) error { cands[string(k)] = k; return nil }); err != nil {
			return st, fmt.Errorf("sweep: %w", err)
		}
	}
	if indexed {
		err = l.store.ForEachMeta(ctx, prefixDuty, func(key, v []byte) error {
			if at, dated := dutyAge(v); dated && !now.Before(at.Add(grace)) {
				k := mh.Multihash(append([]byte(nil), key[len(prefixDuty):]...))
				cands[string(k)] = k
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("sweep: %w", err)
		}
	}
	if urgent {
		if err := l.store.ForEach(ctx, func(k mh.Multihash) error { cands[string(k)] = k; return nil }); err != nil {
			return st, fmt.Errorf("sweep: %w", err)
		}
	}
	if err := l.free(ctx, cands, due, now, grace, indexed, &st); err != nil {
		return st, err
	}
	for _, root := range due {
		if err := l.index.Drop(root); err != nil {
			return st, fmt.Errorf("sweep: %w", err)
		}
		st.Expired++
	}
	if st.Freed > 0 {
		if _, err := l.store.Compact(ctx, 0.5); err != nil {
			return st, fmt.Errorf("sweep: %w", err)
		}
	}
	return st, nil
}

// free deletes the candidates nothing keeps, under the GC hold and
// against the pins and references as they are now.
func (l *Local) free(ctx context.Context, cands map[string]mh.Multihash, due []cid.Cid, now time.Time, grace time.Duration, indexed bool, st *SweepStats) error {
	if len(cands) == 0 {
		return nil
	}
	l.gcMu.Lock()
	defer l.gcMu.Unlock()
	local, err := l.pinnedSet(ctx)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	expiring := map[string]bool{}
	for _, r := range due {
		expiring[r.KeyString()] = true
	}
	for _, k := range cands {
		if err := ctx.Err(); err != nil {
			return err
		}
		if local[string(k)] {
			continue
		}
		keep, err := l.keptByRefs(k, expiring, now, grace, indexed)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if keep {
			continue
		}
		size, _ := l.store.Size(k) // 0 for a block not held: only its mark goes
		err = l.store.Delete(cid.NewCidV1(cid.Raw, k), store.Meta{Key: dutyKey(k), Delete: true})
		if errors.Is(err, store.ErrNotFound) {
			err = l.store.Sync(store.Meta{Key: dutyKey(k), Delete: true})
		} else if err == nil {
			st.Freed++
			st.FreedBytes += size
		}
		if err != nil {
			return fmt.Errorf("sweep: free %s: %w", k.B58String(), err)
		}
	}
	return nil
}

// keptByRefs reports whether a root other than the expiring ones reaches
// the block, or its duty mark keeps it. A mark counts only on a block no
// root claimed (the blocks of a root whose grace ended go with it): then
// any mark keeps it unless pushes may be freed (indexed), else an undated
// one or one within the grace.
func (l *Local) keptByRefs(k mh.Multihash, expiring map[string]bool, now time.Time, grace time.Duration, indexed bool) (bool, error) {
	roots, err := l.index.RootsOf(k)
	if err != nil {
		return false, err
	}
	for _, r := range roots {
		if !expiring[r.KeyString()] {
			return true, nil
		}
	}
	if len(roots) > 0 {
		return false, nil
	}
	v, err := l.store.GetMeta(dutyKey(k))
	if err != nil {
		return false, nil // no mark
	}
	at, dated := dutyAge(v)
	return !indexed || !dated || now.Before(at.Add(grace)), nil
}

// owed reports whether the cluster wants the block here: a pinned root
// reaches it, or it was pushed here and no root claims it yet (its pin
// may not be indexed here yet). On an index error it answers yes.
func (l *Local) owed(k mh.Multihash) bool {
	if ok, err := l.index.Pinned(k); err != nil || ok {
		return true
	}
	if !l.isDuty(k) {
		return false
	}
	ok, err := l.index.Referenced(k)
	return err != nil || !ok
}

// sweepLoop runs a sweep every SweepInterval until the node closes.
func (n *Node) sweepLoop() {
	t := time.NewTicker(n.cfg.Cluster.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		st, err := n.Sweep(n.ctx, time.Now(), n.indexIdle())
		if n.ctx.Err() != nil {
			return
		}
		if err != nil || st.Freed > 0 || st.Expired > 0 {
			n.logf("sweep: %d unpinned roots expired, %d blocks (%d bytes) freed (%v)", st.Expired, st.Freed, st.FreedBytes, err)
		}
	}
}
