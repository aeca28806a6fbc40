package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	mh "github.com/multiformats/go-multihash"
)

// ErrBadCAR means a CAR file could not be read: a malformed or truncated
// header or section.
var ErrBadCAR = errors.New("malformed CAR")

// ImportedRoot is one root a CAR named.
type ImportedRoot struct {
	CID    cid.Cid
	Pinned bool
	// Incomplete, when set, says why the root's DAG is not all here (it
	// was imported but not pinned).
	Incomplete error
}

// ImportResult describes a CAR import.
type ImportResult struct {
	Roots  []ImportedRoot
	Blocks int    // blocks read (repeats included)
	Bytes  uint64 // their bytes
}

// ImportCAR stores every block of a CAR (v1 or v2), each verified against
// its CID before it is kept, and pins the roots whose DAG is then
// complete here (all of them with pinRoots, none without). A block that
// does not match its CID, or an unsupported codec or hash, ends the
// import with an error naming it and pins nothing; blocks stored before
// it stay unpinned, for GC. Identity CIDs are never stored.
func (l *Local) ImportCAR(ctx context.Context, r io.Reader, pinRoots bool) (ImportResult, error) {
	res, _, err := l.importCAR(ctx, r, pinRoots)
	return res, err
}

func (l *Local) importCAR(ctx context.Context, r io.Reader, pinRoots bool) (ImportResult, []mh.Multihash, error) {
	var res ImportResult
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	// go-car refuses a section past this before reading it into memory;
	// cairn's blocks are at most 1 MiB, so a larger one is refused anyway.
	br, err := carv2.NewBlockReader(r, carv2.WithTrustedCAR(true),
		carv2.MaxAllowedSectionSize(chunk.MaxBlockSize+1024), carv2.MaxAllowedHeaderSize(1<<20))
	if err != nil {
		return res, nil, fmt.Errorf("import: %w: %v", ErrBadCAR, err)
	}
	var keys []mh.Multihash
	seen := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return res, nil, err
		}
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, nil, fmt.Errorf("import: after %d blocks: %w: %v", res.Blocks, ErrBadCAR, err)
		}
		c, data := b.Cid(), b.RawData()
		// go-car was told to trust the CAR: every block is checked here,
		// with cairn's own limits, codecs and errors.
		if err := chunk.Verify(c, data); err != nil {
			return res, nil, fmt.Errorf("import: block %d: %w", res.Blocks+1, err)
		}
		res.Blocks++
		res.Bytes += uint64(len(data))
		if chunk.IsIdentity(c) {
			continue
		}
		if err := l.store.PutHashed(c, data); err != nil {
			return res, nil, fmt.Errorf("import: %w", err)
		}
		if !seen[string(c.Hash())] {
			seen[string(c.Hash())] = true
			keys = append(keys, c.Hash())
		}
	}
	var pins []store.Meta
	for _, root := range dedupe(br.Roots) {
		ir := ImportedRoot{CID: root}
		if ir.Incomplete = l.complete(ctx, root); ir.Incomplete == nil && pinRoots {
			ir.Pinned = true
			pins = append(pins, pinMeta(root, ""))
		}
		res.Roots = append(res.Roots, ir)
	}
	// The blocks and the pins of the complete roots, in one commit.
	if err := l.store.Sync(pins...); err != nil {
		return res, nil, fmt.Errorf("import: %w", err)
	}
	return res, keys, nil
}

// complete returns nil if every block of the DAG under root is held here,
// else an error naming the first one missing.
func (l *Local) complete(ctx context.Context, root cid.Cid) error {
	return chunk.WalkCIDs(ctx, l.store, root, func(b cid.Cid) error {
		if chunk.IsIdentity(b) || l.Has(b) {
			return nil
		}
		return fmt.Errorf("block %s: %w", b, store.ErrNotFound)
	})
}

// ImportCAR is Local.ImportCAR, then the imported blocks announced and
// replicated as an add's are.
func (n *Node) ImportCAR(ctx context.Context, r io.Reader, pinRoots bool) (ImportResult, error) {
	res, keys, err := n.Local.importCAR(ctx, r, pinRoots)
	if err != nil || len(keys) == 0 {
		return res, err
	}
	root := cid.Undef
	if len(res.Roots) > 0 {
		root = res.Roots[0].CID
	}
	var pins []pinset.Pin
	for _, r := range res.Roots {
		if r.Pinned {
			size, _ := n.pinBytes(ctx, r.CID) // a size the root does not tell is recorded as 0
			pins = append(pins, pinset.Pin{Root: r.CID, Bytes: size})
		}
	}
	_, err = n.publish(ctx, root, pins, keys)
	return res, err
}

// dedupe drops repeats from a CAR's roots, keeping their order.
func dedupe(roots []cid.Cid) []cid.Cid {
	seen := map[string]bool{}
	var out []cid.Cid
	for _, r := range roots {
		if !seen[r.KeyString()] {
			seen[r.KeyString()] = true
			out = append(out, r)
		}
	}
	return out
}
