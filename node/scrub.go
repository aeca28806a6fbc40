package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// ScrubStats report a scrub pass.
type ScrubStats struct {
	Checked  int64 // blocks re-hashed
	Corrupt  int64 // blocks that failed their check
	Repaired int64 // of those, fetched again from a replica
}

// Scrub re-hashes every block the node holds, at most rate bytes per
// second (0: as fast as the disk goes). A block that fails its check is
// replaced by a good copy from a replica; one that no replica can give
// stays as it is (reads keep failing, never give wrong bytes) and is
// reported in the error. A block that cannot be read (an I/O error) is
// not touched: that is no proof of rot.
func (n *Node) Scrub(ctx context.Context, rate int64) (ScrubStats, error) {
	var st ScrubStats
	budget := repair.NewBudget(rate, max(rate, chunk.MaxBlockSize))
	var bad []mh.Multihash
	err := n.store.ForEach(ctx, func(k mh.Multihash) error {
		data, err := n.store.GetHash(k)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil // deleted meanwhile
		case err == nil:
			if herr := chunk.CheckHash(k, data); herr != nil {
				err = fmt.Errorf("%w: %v", store.ErrCorrupt, herr)
			}
		}
		st.Checked++
		switch {
		case errors.Is(err, store.ErrCorrupt):
			n.logf("scrub: block %s failed its check: %v", k.B58String(), err)
			bad = append(bad, k)
		case err != nil:
			// An I/O error is not proof of rot: never drop a copy for it.
			n.logf("scrub: block %s could not be read: %v", k.B58String(), err)
		}
		if wait := budget.Take(int64(len(data)), time.Now()); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	n.scrubErrors.Add(int64(len(bad)))
	var lost []string
	for _, k := range bad {
		st.Corrupt++
		if err := n.mend(ctx, k); err != nil {
			lost = append(lost, fmt.Sprintf("%s: %v", k.B58String(), err))
			continue
		}
		st.Repaired++
	}
	if len(lost) > 0 {
		return st, fmt.Errorf("scrub: %d corrupt blocks could not be fetched again: %v", len(lost), lost)
	}
	return st, nil
}

// ScrubErrors counts blocks found corrupt since the node started.
func (n *Node) ScrubErrors() int64 { return n.scrubErrors.Load() }

// mend replaces a block that failed its check with a good copy from a
// replica. The copy is fetched first, checked against the hash by the
// exchange, and only then does the bad record go, in the same commit as
// the good one is written: a block no replica can give stays as it is,
// reported, never dropped. It asks by multihash (a raw CID), as the
// exchange and the DHT go by it.
func (n *Node) mend(ctx context.Context, key mh.Multihash) error {
	c := cid.NewCidV1(cid.Raw, key)
	data, err := n.getElsewhere(ctx, c, "")
	if err != nil {
		return err
	}
	return n.replaceBlock(c, data)
}

// healingGetter reads blocks from the store and, when one fails its
// check, drops it and fetches it again from a replica before answering,
// so a reader never sees bitrot that a replica can mend.
type healingGetter struct{ n *Node }

func (g healingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, _, err := g.GetBuffer(ctx, c, nil)
	return data, err
}

// GetBuffer implements chunk.BufferGetter: Get, reading into buf.
func (g healingGetter) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	if data, ok := chunk.IdentityData(c); ok {
		return data, buf, nil
	}
	data, buf, err := g.n.store.GetBuffer(ctx, c, buf)
	if !errors.Is(err, store.ErrCorrupt) {
		return data, buf, err
	}
	g.n.scrubErrors.Add(1)
	g.n.logf("read: block %s failed its check; fetching a good copy: %v", c, err)
	if ferr := g.n.mend(ctx, c.Hash()); ferr != nil {
		return nil, buf, fmt.Errorf("%w (and no replica could replace it: %v)", err, ferr)
	}
	return g.n.store.GetBuffer(ctx, c, buf)
}

// Reader reads the file under root from the store, mending corrupt blocks
// from replicas; blocks missing here are not fetched (use Open).
func (n *Node) Reader(ctx context.Context, root cid.Cid) (*chunk.Reader, error) {
	return chunk.NewReader(ctx, healingGetter{n}, root)
}
