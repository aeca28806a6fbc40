package node

import (
	"context"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// Paths and folders: names are followed through UnixFS directories and
// HAMT shards (chunk.Resolve, chunk.ListDir), reading only the blocks on
// the way. A Node fetches each of those blocks when it is missing (and
// mends it when it has rotted), so a path deep into a large folder costs
// a few blocks, not the folder.

// Resolve follows path from root and returns the CID it names.
func (l *Local) Resolve(ctx context.Context, root cid.Cid, path string) (cid.Cid, error) {
	return chunk.Resolve(ctx, l.store, root, path)
}

// List calls fn with each entry of the directory dir, by name.
func (l *Local) List(ctx context.Context, dir cid.Cid, fn func(chunk.DirEntry) error) error {
	return chunk.ListDir(ctx, l.store, dir, fn)
}

// Inspect describes c from its root block alone.
func (l *Local) Inspect(ctx context.Context, c cid.Cid) (chunk.Stat, error) {
	return chunk.StatDAG(ctx, l.store, c)
}

// fetchingGetter reads blocks through Node.Block: fetched one at a time
// when missing, mended when rotted.
type fetchingGetter struct {
	n    *Node
	opts FetchOptions
}

func (g fetchingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.n.Block(ctx, c, g.opts)
}

// Resolve follows path from root, fetching the blocks on the way.
func (n *Node) Resolve(ctx context.Context, root cid.Cid, path string, opts FetchOptions) (cid.Cid, error) {
	return chunk.Resolve(ctx, fetchingGetter{n, opts}, root, path)
}

// List calls fn with each entry of the directory dir, by name, fetching
// the directory's blocks (not its entries').
func (n *Node) List(ctx context.Context, dir cid.Cid, opts FetchOptions, fn func(chunk.DirEntry) error) error {
	return chunk.ListDir(ctx, fetchingGetter{n, opts}, dir, fn)
}

// Inspect describes c from its root block alone, fetching that block if
// it is missing.
func (n *Node) Inspect(ctx context.Context, c cid.Cid, opts FetchOptions) (chunk.Stat, error) {
	return chunk.StatDAG(ctx, fetchingGetter{n, opts}, c)
}
