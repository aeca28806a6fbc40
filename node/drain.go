package node

import (
	"context"
	"fmt"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// DrainStats report a drain.
type DrainStats struct {
	Chunks int // chunks held here that the cluster wants kept
	Pushed int // copies handed to other peers
}

// Drain hands every chunk this node holds that the cluster wants kept to
// the peers that should hold it next, until each has R live copies on
// other nodes that prove they hold it, and from then on refuses new
// copies. It returns an error naming the chunks it could not
// place; when it returns nil the node can leave without any chunk
// dropping below R, and its leaving causes no repair.
func (n *Node) Drain(ctx context.Context) (DrainStats, error) {
	var st DrainStats
	n.draining.Store(true)
	self := n.host.ID()
	// Only what the cluster wants is handed on: a read's cache, or the
	// blocks of an unpinned root, leave with the node.
	_, wanted, _ := n.rep.wanted(ctx)
	var keys []mh.Multihash
	if err := n.store.ForEach(ctx, func(k mh.Multihash) error {
		if wanted(k) {
			keys = append(keys, k)
		}
		return nil
	}); err != nil {
		return st, fmt.Errorf("drain: list held chunks: %w", err)
	}
	st.Chunks = len(keys)
	r := n.rep
	holders := r.probe(ctx, keys)
	// Leaving lowers every chunk's copies by one: only copies their
	// holders prove count.
	r.proveAll(ctx, keys, holders)
	// This node is leaving, so its own copy does not count: each chunk
	// needs R copies among the other holders and the peers placed now.
	others := func(k mh.Multihash) int {
		c := 0
		for _, h := range holders[string(k)] {
			if h != self {
				c++
			}
		}
		return c
	}
	var short []string
	r.placeAll(ctx, keys, func(v *repair.View, k mh.Multihash) repair.Placement {
		return v.Place(k, holders[string(k)], r.cfg.Factor-others(k))
	}, proveEach, func(k mh.Multihash, res placed) {
		copies := others(k) + res.made
		n.drainMu.Lock()
		defer n.drainMu.Unlock()
		st.Pushed += res.made
		if copies < r.cfg.Factor {
			short = append(short, fmt.Sprintf("%s (%d copies elsewhere)", cid.NewCidV1(cid.Raw, k), copies))
		}
	})
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if len(short) > 0 {
		return st, fmt.Errorf("drain: %d chunks could not reach %d copies on other nodes (not enough peers with room): %v", len(short), r.cfg.Factor, short[:min(len(short), 5)])
	}
	return st, nil
}

// ChunkReplicas is the live replica count of one block of a file.
type ChunkReplicas struct {
	CID     cid.Cid
	Live    int
	Holders []peer.ID
}

// Replicas lists every block of the file under root with its live
// holders: this node if it holds the block, and the peers among its
// closest that answer a have-probe for it. Of a file not held here only
// the blocks that link are fetched (a folder's or a large file's inner
// nodes), never its leaves.
func (n *Node) Replicas(ctx context.Context, root cid.Cid, opts FetchOptions) ([]ChunkReplicas, error) {
	var cids []cid.Cid
	var keys []mh.Multihash
	// Only the blocks that link are read (fetched one by one if missing):
	// asking where a file's copies are must not copy the file here.
	if err := chunk.WalkCIDs(ctx, blockFetcher{n, opts}, root, func(c cid.Cid) error {
		cids = append(cids, c)
		keys = append(keys, c.Hash())
		return nil
	}); err != nil {
		return nil, err
	}
	holders := n.rep.probe(ctx, keys)
	out := make([]ChunkReplicas, len(cids))
	for i, c := range cids {
		hs := holders[string(c.Hash())]
		out[i] = ChunkReplicas{CID: c, Live: len(hs), Holders: hs}
	}
	return out, nil
}

// MinLive is the smallest live copy count over a file's blocks (0 for none).
func MinLive(reps []ChunkReplicas) int {
	least := 0
	for i, cr := range reps {
		if i == 0 || cr.Live < least {
			least = cr.Live
		}
	}
	return least
}

// blockFetcher reads blocks through Block: held ones from the store,
// missing ones fetched alone.
type blockFetcher struct {
	n    *Node
	opts FetchOptions
}

func (b blockFetcher) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return b.n.Block(ctx, c, b.opts)
}
