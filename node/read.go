package node

import (
	"context"
	"fmt"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// Every read of a Node, whatever its form (a file stream, one raw block,
// a DAG walk for a CAR, a stat), goes through healingGetter: a block that
// fails its check is dropped and fetched again from a replica before the
// read answers, and a block not held here is fetched first (or, when the
// store has no room, passed through: see passThrough).

// Block returns one block, fetching it if it is not held here and mending
// it from a replica if the local copy has rotted.
func (n *Node) Block(ctx context.Context, c cid.Cid, opts FetchOptions) ([]byte, error) {
	if !n.Has(c) {
		// As a raw CID the block has no children to follow: only it is fetched.
		if err := n.Fetch(ctx, cid.NewCidV1(cid.Raw, c.Hash()), opts); err != nil {
			if !NoRoom(err) {
				return nil, err
			}
			data, _, err := n.passThrough(ctx, c, &passHolders{given: opts.Providers}, nil)
			return data, err
		}
	}
	data, err := healingGetter{n}.Get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", c, err)
	}
	return data, nil
}

// Walk fetches what is missing of the DAG under root, then visits each of
// its blocks once, parents before children in link order (chunk.Walk),
// mending rotted blocks from replicas on the way.
func (n *Node) Walk(ctx context.Context, root cid.Cid, opts FetchOptions, fn func(cid.Cid, []byte) error) error {
	if err := n.Fetch(ctx, root, opts); err != nil {
		if !NoRoom(err) {
			return err
		}
		return chunk.Walk(ctx, passingGetter{n, &passHolders{given: opts.Providers}}, root, fn)
	}
	return chunk.Walk(ctx, healingGetter{n}, root, fn)
}
