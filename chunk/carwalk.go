package chunk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
)

// ErrPathInBlock means a path ends inside a dag-cbor or dag-json document,
// on a value that is not a link: it names no block.
var ErrPathInBlock = errors.New("path ends inside a block")

// The walks a trustless gateway's CAR responses need (IPFS trustless
// gateway spec): the blocks read while resolving a path, then the blocks of
// what it names, as far as dag-scope and entity-bytes ask.

// Scopes of a CAR walk (the spec's dag-scope).
const (
	ScopeAll    = "all"    // the whole DAG
	ScopeEntity = "entity" // a file's blocks; a directory's node (and HAMT shards); any other block alone
	ScopeBlock  = "block"  // the root block only
)

// ByteRange is an entity-bytes range of a file: From and To are inclusive
// offsets; negative ones count from the end (-1 is the last byte); ToEnd
// means the end of the file whatever To says.
type ByteRange struct {
	From, To int64
	ToEnd    bool
}

// bounds resolves r against a file of size bytes to inclusive offsets;
// ok is false when no byte of the file is in it.
func (r ByteRange) bounds(size uint64) (from, to uint64, ok bool) {
	if size == 0 {
		return 0, 0, false
	}
	s := int64(size) // a file of 2^63 bytes or more is not a real file
	if s < 0 {
		s = 1<<63 - 1
	}
	f, t := r.From, r.To
	if f < 0 {
		f = max(s+f, 0)
	}
	if r.ToEnd || t >= s {
		t = s - 1
	}
	if t < 0 {
		t += s
	}
	if f >= s || t < 0 || f > t {
		return 0, 0, false
	}
	return uint64(f), uint64(t), true
}

// ScopeOptions shape WalkScope.
type ScopeOptions struct {
	Scope string // ScopeAll, ScopeEntity or ScopeBlock; "" is ScopeAll
	// Dups repeats a block each time the walk reaches it (dups=y), so a
	// client can verify the stream without keeping what it saw. The caller
	// must bound fn's calls: a hostile DAG repeats exponentially.
	Dups bool
	// Range, when set and the root is a UnixFS file under ScopeEntity,
	// limits the walk to the blocks holding those bytes (and the inner
	// nodes above them), so blocks outside the range are never read.
	Range *ByteRange
}

// WalkScope visits root's DAG depth-first, parents before children in link
// order, as far as o asks, calling fn with each block (identity CIDs are
// followed but not passed to fn, as Walk does). Blocks are read through get
// only when visited, which is what lets a ranged read succeed when blocks
// outside the range are missing.
func WalkScope(ctx context.Context, get BlockGetter, root cid.Cid, o ScopeOptions, fn func(cid.Cid, []byte) error) error {
	w := &scopeWalker{ctx: ctx, get: get, o: o, fn: fn, seen: map[string]bool{}}
	scope := o.Scope
	if scope == "" {
		scope = ScopeAll
	}
	return w.visit(root, scope, 0, true)
}

type scopeWalker struct {
	ctx  context.Context
	get  BlockGetter
	o    ScopeOptions
	fn   func(cid.Cid, []byte) error
	seen map[string]bool
}

// load reads c and hands it to fn, unless it was seen and dups are off
// (then data is nil and sent is false).
func (w *scopeWalker) load(c cid.Cid, depth int) (data []byte, sent bool, err error) {
	if !w.o.Dups && w.seen[c.KeyString()] {
		return nil, false, nil
	}
	w.seen[c.KeyString()] = true
	if depth >= maxDepth {
		return nil, false, fmt.Errorf("walk: %w: deeper than %d levels", ErrBadDAG, maxDepth)
	}
	if err := w.ctx.Err(); err != nil {
		return nil, false, err
	}
	if data, err = getBlock(w.ctx, w.get, c); err != nil {
		return nil, false, fmt.Errorf("walk %s: %w", c, err)
	}
	if !IsIdentity(c) {
		if err := w.fn(c, data); err != nil {
			return nil, false, err
		}
	}
	return data, true, nil
}

func (w *scopeWalker) visit(c cid.Cid, scope string, depth int, top bool) error {
	data, sent, err := w.load(c, depth)
	if err != nil || !sent || scope == ScopeBlock || !HasLinks(c) {
		return err
	}
	if scope == ScopeEntity {
		if c.Type() != cid.DagProtobuf {
			return nil // a document is its own block; its links are other entities
		}
		n, err := DecodeNode(data)
		if err != nil {
			return fmt.Errorf("walk %s: %w", c, err)
		}
		switch n.FS.Type {
		case TypeFile, TypeRaw:
			if top && w.o.Range != nil {
				from, to, ok := w.o.Range.bounds(n.FS.FileSize)
				if !ok {
					return nil
				}
				return w.fileRange(c, n, 0, from, to, depth)
			}
			scope = ScopeAll // every block of a file is part of it
		case TypeHAMTShard:
			// The shard nodes list the directory; the entries are not it.
			for _, l := range n.Links {
				if _, rest, err := HAMTBucket(l.Name, n.FS.Fanout); err == nil && rest == "" {
					if err := w.visit(l.CID, ScopeEntity, depth+1, false); err != nil {
						return err
					}
				}
			}
			return nil
		default:
			return nil // a plain directory's node lists it; a symlink is one block
		}
	}
	links, err := Links(c, data)
	if err != nil {
		return fmt.Errorf("walk %s: %w", c, err)
	}
	for _, l := range links {
		if err := w.visit(l, scope, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// fileRange visits the children of file node n (whose first byte is at
// file offset start, n itself already sent) that hold bytes in [from, to],
// and their children in turn, reading no other block.
func (w *scopeWalker) fileRange(c cid.Cid, n *Node, start, from, to uint64, depth int) error {
	pos := start + uint64(len(n.FS.Data))
	if len(n.FS.BlockSizes) > len(n.Links) {
		return fmt.Errorf("walk %s: %w: %d blocksizes for %d links", c, ErrBadDAG, len(n.FS.BlockSizes), len(n.Links))
	}
	for i, bs := range n.FS.BlockSizes {
		lo, hi := pos, pos+bs // the child's bytes: [lo, hi)
		pos = hi
		if hi <= from || lo > to || bs == 0 {
			continue
		}
		child := n.Links[i].CID
		data, sent, err := w.load(child, depth+1)
		if err != nil {
			return err
		}
		if !sent || child.Type() != cid.DagProtobuf {
			continue
		}
		cn, err := DecodeNode(data)
		if err != nil {
			return fmt.Errorf("walk %s: %w", child, err)
		}
		if cn.FS.Type != TypeFile && cn.FS.Type != TypeRaw {
			return fmt.Errorf("walk %s: %w: UnixFS type %d inside a file", child, ErrBadDAG, cn.FS.Type)
		}
		if err := w.fileRange(child, cn, lo, from, to, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// ResolveTrail is Resolve that also goes through dag-cbor and dag-json
// documents (map keys and list indexes, then on along a link), and calls
// visit with every block it reads on the way, in order: a trustless
// response carries them so the client can check the path itself. The
// block the path names is not read.
func ResolveTrail(ctx context.Context, get BlockGetter, root cid.Cid, path string, visit func(cid.Cid, []byte) error) (cid.Cid, error) {
	path = strings.Trim(path, "/")
	if path == "" {
		return root, nil
	}
	names := strings.Split(path, "/")
	if len(names) > maxDepth {
		return cid.Undef, fmt.Errorf("resolve %s/%s: %w: more than %d levels", root, path, ErrBadDAG, maxDepth)
	}
	tg := &trailGetter{get: get, visit: visit}
	cur := root
	for i := 0; i < len(names); {
		at := strings.Join(names[:i+1], "/")
		if err := ctx.Err(); err != nil {
			return cid.Undef, err
		}
		var err error
		switch cur.Type() {
		case cid.DagCBOR, cid.DagJSON:
			var used int
			cur, used, err = lookupDoc(ctx, tg, cur, names[i:])
			i += used
		default:
			if err = checkName(names[i]); err == nil {
				cur, err = lookup(ctx, tg, cur, names[i])
			}
			i++
		}
		if err == nil {
			err = tg.err
		}
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s/%s: %w", root, at, err)
		}
	}
	return cur, nil
}

// trailGetter passes every block read through it to visit.
type trailGetter struct {
	get   BlockGetter
	visit func(cid.Cid, []byte) error
	err   error // visit's first error
}

func (t *trailGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := getBlock(ctx, t.get, c)
	if err == nil && t.visit != nil && !IsIdentity(c) && t.err == nil {
		t.err = t.visit(c, data)
	}
	return data, err
}

// lookupDoc follows names into the document doc until they reach a link,
// and returns it with the number of names used. A path that ends inside
// the document, not on a link, names no block: ErrPathInBlock.
func lookupDoc(ctx context.Context, get BlockGetter, doc cid.Cid, names []string) (cid.Cid, int, error) {
	data, err := get.Get(ctx, doc)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("%s: %w", doc, err)
	}
	n, err := decodeIPLD(doc.Type(), data)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("%s: %w", doc, err)
	}
	for i, name := range names {
		var next datamodel.Node
		switch n.Kind() {
		case datamodel.Kind_Map:
			next, err = n.LookupByString(name)
		case datamodel.Kind_List:
			idx, perr := strconv.ParseInt(name, 10, 64)
			if perr != nil {
				return cid.Undef, 0, fmt.Errorf("%w: %q is not a list index", ErrNoSuchEntry, name)
			}
			next, err = n.LookupByIndex(idx)
		default:
			return cid.Undef, 0, fmt.Errorf("%w: %q inside a %s", ErrNotDir, name, n.Kind())
		}
		if err != nil || next == nil {
			return cid.Undef, 0, fmt.Errorf("%w: %q", ErrNoSuchEntry, name)
		}
		if next.Kind() == datamodel.Kind_Link {
			l, _ := next.AsLink()
			cl, ok := l.(cidlink.Link)
			if !ok {
				return cid.Undef, 0, fmt.Errorf("%w: link of type %T", ErrBadNode, l)
			}
			return cl.Cid, i + 1, nil
		}
		n = next
	}
	return cid.Undef, 0, fmt.Errorf("%w %s", ErrPathInBlock, doc)
}
