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
// "p/" + the root's CID bytes.
var prefixPin = []byte("p/")

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
	reach, err := s.PinnedSet(ctx)
	if err != nil {
		return st, fmt.Errorf("store: gc: %w", err)
	}
	var doomed []mh.Multihash
	err = s.ForEach(ctx, func(k mh.Multihash) error {
		if reach[string(k)] || (keep != nil && keep(k)) {
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

// markReachable marks every block of the DAG under root, going past inner
// nodes that are missing or unreadable here: a pinned DAG held in part
// still protects every part that is held.
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
			continue
		}
		n, err := chunk.DecodeNode(data)
		if err != nil {
			continue
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
