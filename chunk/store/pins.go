package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Pins are roots of DAGs the user wants kept on this node: GC never
// removes a block of a pinned DAG. They live in the index database under
// "p/" + the root's CID bytes. Blocks other nodes placed here (replica
// duty) are marked under "d/" + multihash: GC never removes them either;
// only the repair policy, having counted enough copies elsewhere, does.
var (
	prefixPin  = []byte("p/")
	prefixDuty = []byte("d/")
)

func dutyKey(mh []byte) []byte { return append(append([]byte(nil), prefixDuty...), mh...) }

// MarkDuty records that this node holds a block as a replica for the
// network, which GC must leave alone.
func (s *Store) MarkDuty(key mh.Multihash) error {
	if err := s.db.Put(dutyKey(key), nil, nil); err != nil {
		return fmt.Errorf("store: mark %s: %w", key.B58String(), err)
	}
	return nil
}

// IsDuty reports whether a block is held as a replica for the network.
func (s *Store) IsDuty(key mh.Multihash) bool {
	ok, err := s.db.Has(dutyKey(key), nil)
	return err == nil && ok
}

// HoldGC keeps GC from running until the returned function is called:
// writers that store blocks and then pin them (add, pin) hold it across
// both steps, so GC never sees their blocks unpinned.
func (s *Store) HoldGC() func() {
	s.gcMu.RLock()
	return s.gcMu.RUnlock
}

// ErrNotPinned is returned by Unpin for a CID that is not pinned.
var ErrNotPinned = errors.New("not pinned")

func pinKey(c cid.Cid) []byte { return append(append([]byte(nil), prefixPin...), c.Bytes()...) }

// Pin marks root as pinned (durably). Pinning twice is not an error.
func (s *Store) Pin(root cid.Cid) error {
	if err := s.db.Put(pinKey(root), nil, syncWrite); err != nil {
		return fmt.Errorf("store: pin %s: %w", root, err)
	}
	return nil
}

// Unpin removes a pin.
func (s *Store) Unpin(root cid.Cid) error {
	ok, err := s.db.Has(pinKey(root), nil)
	if err != nil {
		return fmt.Errorf("store: unpin %s: %w", root, err)
	}
	if !ok {
		return fmt.Errorf("store: unpin %s: %w", root, ErrNotPinned)
	}
	if err := s.db.Delete(pinKey(root), syncWrite); err != nil {
		return fmt.Errorf("store: unpin %s: %w", root, err)
	}
	return nil
}

// Pins lists the pinned roots.
func (s *Store) Pins() ([]cid.Cid, error) {
	var out []cid.Cid
	it := s.db.NewIterator(util.BytesPrefix(prefixPin), nil)
	defer it.Release()
	for it.Next() {
		c, err := cid.Cast(it.Key()[len(prefixPin):])
		if err != nil {
			return nil, fmt.Errorf("store: pin entry: %w", err)
		}
		out = append(out, c)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("store: pins: %w", err)
	}
	return out, nil
}

// GCStats reports what a garbage collection did.
type GCStats struct {
	Kept      int64 // blocks kept
	Removed   int64 // blocks removed
	Reclaimed int64 // bytes of segment files freed by the compaction
}

// GC removes every block that no pinned DAG reaches and that keep (if
// set) does not claim, then compacts. Blocks of a pinned DAG are kept
// even when the DAG is incomplete here. keep lets the node protect blocks
// it holds for others (replica duty).
func (s *Store) GC(ctx context.Context, keep func(mh.Multihash) bool) (GCStats, error) {
	var st GCStats
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	reach, err := s.PinnedSet(ctx)
	if err != nil {
		return st, fmt.Errorf("store: gc: %w", err)
	}
	var doomed []mh.Multihash
	err = s.ForEach(ctx, func(k mh.Multihash) error {
		if reach[string(k)] || s.IsDuty(k) || (keep != nil && keep(k)) {
			st.Kept++
			return nil
		}
		doomed = append(doomed, k)
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, k := range doomed {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := s.Delete(cid.NewCidV1(cid.Raw, k)); err != nil && !errors.Is(err, ErrNotFound) {
			return st, err
		}
		st.Removed++
	}
	cs, err := s.Compact(ctx, 0)
	st.Reclaimed = cs.Reclaimed
	return st, err
}

// markReachable marks every block of the DAG under root. An inner node
// that is missing or unreadable here hides which blocks below it the pin
// covers, so the walk fails rather than let GC guess (fail closed).
func (s *Store) markReachable(ctx context.Context, root cid.Cid, reach map[string]bool) error {
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if reach[string(c.Hash())] {
			continue
		}
		reach[string(c.Hash())] = true
		if c.Type() != cid.DagProtobuf {
			continue
		}
		data, err := s.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("pinned DAG %s: %w", root, err)
		}
		n, err := chunk.DecodeNode(data)
		if err != nil {
			return fmt.Errorf("pinned DAG %s: %s: %w", root, c, err)
		}
		for i := len(n.Links) - 1; i >= 0; i-- {
			stack = append(stack, n.Links[i].CID)
		}
	}
	return nil
}

// PinnedSet returns the multihashes of every held block a pinned DAG
// reaches (keyed as strings).
func (s *Store) PinnedSet(ctx context.Context) (map[string]bool, error) {
	pins, err := s.Pins()
	if err != nil {
		return nil, err
	}
	reach := map[string]bool{}
	for _, root := range pins {
		if err := s.markReachable(ctx, root, reach); err != nil {
			return nil, err
		}
	}
	return reach, nil
}
