package node

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// AddResult describes an added file and how far it got replicated.
type AddResult struct {
	chunk.AddResult
	// Copies is the fewest durable copies any block of the file has (this
	// node's included) when Add returns: the write quorum W, or fewer when
	// there were not enough peers (the file is then under-replicated until
	// repair finds room).
	Copies int
}

// Add stores a file, makes it durable here and on W-1 other nodes (the
// closest live peers to each block), announces it, and pins it in the
// cluster's set, returning once W nodes hold the pin too. The remaining
// copies up to R are made in the background.
func (n *Node) Add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (AddResult, error) {
	cres, keys, err := n.Local.add(ctx, r, opts)
	res := AddResult{AddResult: cres, Copies: 1}
	if err != nil {
		return res, err
	}
	res.Copies, err = n.publish(ctx, res.Root, []pinset.Pin{{Root: res.Root, Name: opts.Name, Bytes: res.Tsize}}, keys)
	return res, err
}

// TreeResult describes an added tree and how far it got replicated.
type TreeResult struct {
	chunk.DirResult
	Copies int // as in AddResult
}

// AddTree is Add for a tree of files, directories and symlinks.
func (n *Node) AddTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (TreeResult, error) {
	dres, keys, err := n.Local.addTree(ctx, tr, opts)
	res := TreeResult{DirResult: dres, Copies: 1}
	if err != nil {
		return res, err
	}
	res.Copies, err = n.publish(ctx, res.Root, []pinset.Pin{{Root: res.Root, Name: opts.Name, Bytes: res.Tsize}}, keys)
	return res, err
}

// publish announces the blocks of a DAG just stored here, puts its pins
// in the cluster's set and makes the blocks durable on W nodes; it
// returns the fewest copies any block or pin entry reached. The pins go
// first: the copies then land on nodes that already know them wanted,
// rather than as unclaimed pushes that a sweep may free before the pin
// comes (an add of a large file takes longer than a short grace).
func (n *Node) publish(ctx context.Context, root cid.Cid, pins []pinset.Pin, keys []mh.Multihash) (int, error) {
	n.announce(keys)
	held := math.MaxInt
	switch {
	case len(pins) == 0:
	case n.WriteQuorum() == 1:
		// The pins are durable here already (the local pin record went
		// with the blocks' commit, and the reconcile at start puts any the
		// set lacks in it): with no peer to confirm them, the entries join
		// the set just after the write is acknowledged, many adds' in one
		// delta (pinBatch).
		// Stamped now, so that listings show them as the set will.
		now := time.Now().UTC()
		for i := range pins {
			pins[i].By, pins[i].At = n.host.ID(), now
		}
		n.w1Pins.add(pins, n.pubs.begin(pins))
	default:
		var err error
		if held, err = n.pinInSet(ctx, pins...); err != nil {
			return 1, err
		}
	}
	if n.cfg.Replication.Disabled {
		return min(1, held), nil
	}
	copies := min(n.rep.replicateWrite(ctx, keys), held)
	if err := ctx.Err(); err != nil {
		// Keys never pushed were not counted: no quorum to claim.
		return copies, fmt.Errorf("add %s: replication: %w", root, err)
	}
	return copies, nil
}

// publishW1 puts the pins of W=1 adds in the set (pinBatch); a failure is
// only noted, as the start-up reconcile puts them in.
func (n *Node) publishW1(ctx context.Context, pins []pinset.Pin) {
	if _, err := n.pinInSet(ctx, pins...); err != nil && ctx.Err() == nil {
		n.logf("node: pin set: %d pins: %v (the reconcile at start adds them)", len(pins), err)
	}
}
