package chunk

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Walk visits every distinct block of the DAG rooted at root once, parents
// before children, in link order (the order a CAR of the DAG lists them),
// calling fn with each block's CID and bytes. Links are followed in blocks
// of every codec that has them (see Links). Subtrees that repeat (a file
// of zeros repeats the same leaf and the same inner nodes) are visited
// once, which also bounds the work a hostile DAG can cause.
//
// fn is not called for identity CIDs: their bytes are in the CID, so there
// is nothing to store or send. Their links, if their codec has any, are
// still followed, since those name real blocks.
func Walk(ctx context.Context, get BlockGetter, root cid.Cid, fn func(c cid.Cid, data []byte) error) error {
	return walk(ctx, get, root, fn, 0, map[string]bool{})
}

func walk(ctx context.Context, get BlockGetter, c cid.Cid, fn func(cid.Cid, []byte) error, depth int, seen map[string]bool) error {
	if seen[c.KeyString()] {
		return nil
	}
	seen[c.KeyString()] = true
	if depth >= maxDepth {
		return fmt.Errorf("walk: %w: deeper than %d levels", ErrBadDAG, maxDepth)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := getBlock(ctx, get, c)
	if err != nil {
		return fmt.Errorf("walk %s: %w", c, err)
	}
	if !IsIdentity(c) {
		if err := fn(c, data); err != nil {
			return err
		}
	}
	if !HasLinks(c) {
		return nil
	}
	links, err := Links(c, data)
	if err != nil {
		return fmt.Errorf("walk %s: %w", c, err)
	}
	for _, l := range links {
		if err := walk(ctx, get, l, fn, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}

// WalkCIDs visits the CID of every distinct block of the DAG rooted at
// root in the same order as Walk, fetching only the blocks whose codec can
// link (HasLinks): leaves are named by their parents and need not be read.
// Like Walk, it skips identity CIDs (fn is not called) but follows their
// links.
func WalkCIDs(ctx context.Context, get BlockGetter, root cid.Cid, fn func(c cid.Cid) error) error {
	return walkCIDs(ctx, get, root, fn, 0, map[string]bool{})
}

func walkCIDs(ctx context.Context, get BlockGetter, c cid.Cid, fn func(cid.Cid) error, depth int, seen map[string]bool) error {
	if seen[c.KeyString()] {
		return nil
	}
	seen[c.KeyString()] = true
	if depth >= maxDepth {
		return fmt.Errorf("walk: %w: deeper than %d levels", ErrBadDAG, maxDepth)
	}
	if !IsIdentity(c) {
		if err := fn(c); err != nil {
			return err
		}
	}
	if !HasLinks(c) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := getBlock(ctx, get, c)
	if err != nil {
		return fmt.Errorf("walk %s: %w", c, err)
	}
	links, err := Links(c, data)
	if err != nil {
		return fmt.Errorf("walk %s: %w", c, err)
	}
	for _, l := range links {
		if err := walkCIDs(ctx, get, l, fn, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}
