package chunk

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
)

var (
	// ErrNoSuchEntry means a path component is not in its directory (or
	// is a name no directory can hold: "", ".", ".." or one with a NUL).
	ErrNoSuchEntry = errors.New("no such entry")
	// ErrNotDir means a path goes on through a file or a symlink, or a
	// directory was asked of something else.
	ErrNotDir = errors.New("not a directory")
)

// DirEntry is one entry of a directory.
type DirEntry struct {
	Name  string
	CID   cid.Cid
	Tsize uint64 // the link's cumulative size, as the parent records it
}

// Resolve follows path (slash-separated names, already unescaped; "" is
// root itself; a trailing slash is ignored) from root through plain UnixFS
// directories and HAMT shards and returns the CID the path names. It reads
// only the blocks on the way: in a HAMT, the shard nodes of the buckets the
// name's murmur3 hash picks, as boxo looks names up, so resolving a name in
// a directory of a million entries costs a few blocks. The block the path
// names is not read (its parent's link names it).
//
// A path of more than maxDepth names is refused with ErrBadDAG: that bound
// is what stops a hostile DAG whose directories link to themselves, and
// Walk refuses DAGs that deep anyway. Shard levels within one directory are
// bounded by the 64 bits of the hash.
func Resolve(ctx context.Context, get BlockGetter, root cid.Cid, path string) (cid.Cid, error) {
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return root, nil
	}
	names := strings.Split(path, "/")
	if len(names) > maxDepth {
		return cid.Undef, fmt.Errorf("resolve %s/%s: %w: more than %d levels", root, path, ErrBadDAG, maxDepth)
	}
	cur := root
	for i, name := range names {
		// at is the path up to the name being looked up, for errors.
		at := strings.Join(names[:i+1], "/")
		if err := checkName(name); err != nil {
			return cid.Undef, fmt.Errorf("resolve %s/%s: %w", root, at, err)
		}
		if err := ctx.Err(); err != nil {
			return cid.Undef, err
		}
		next, err := lookup(ctx, get, cur, name)
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s/%s: %w", root, at, err)
		}
		cur = next
	}
	return cur, nil
}

// checkName refuses names no UnixFS directory kubo writes can hold, so
// that "a/../b" or "a/./b" never reaches a hostile directory that has a
// link named "..".
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%w: bad name %q", ErrNoSuchEntry, name)
	}
	return nil
}

// loadDir fetches and decodes c, which must be a directory or a shard.
func loadDir(ctx context.Context, get BlockGetter, c cid.Cid) (*Node, error) {
	if c.Type() != cid.DagProtobuf {
		// A raw block is a file's bytes; no other codec holds UnixFS.
		return nil, fmt.Errorf("%s: %w", c, ErrNotDir)
	}
	data, err := get.Get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	n, err := DecodeNode(data)
	if err != nil {
		var bs badShardError
		if errors.As(err, &bs) {
			// A link that does not fit its shard (bad prefix, bucket
			// not in the bitfield) breaks the DAG, not just the block.
			return nil, fmt.Errorf("%s: %w: %w", c, ErrBadDAG, err)
		}
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if n.FS.Type != TypeDirectory && n.FS.Type != TypeHAMTShard {
		return nil, fmt.Errorf("%s: %w (UnixFS type %d)", c, ErrNotDir, n.FS.Type)
	}
	return n, nil
}

// lookup finds name in the directory dir.
func lookup(ctx context.Context, get BlockGetter, dir cid.Cid, name string) (cid.Cid, error) {
	n, err := loadDir(ctx, get, dir)
	if err != nil {
		return cid.Undef, err
	}
	if n.FS.Type == TypeDirectory {
		// Links are sorted by name in what kubo writes, but a scan costs
		// no more than decoding did and does not trust the order.
		for _, l := range n.Links {
			if l.Name == name {
				return l.CID, nil
			}
		}
		return cid.Undef, ErrNoSuchEntry
	}
	h := murmur3.Sum64([]byte(name))
	used := 0 // bits of h the shards above consumed
	shard := dir
	for {
		idx, w, err := shardBucket(n, h, used)
		if err != nil {
			return cid.Undef, fmt.Errorf("shard %s: %w", shard, err)
		}
		used += w
		l, ok := shardLink(n, idx)
		if !ok {
			return cid.Undef, ErrNoSuchEntry
		}
		_, rest, err := HAMTBucket(l.Name, n.FS.Fanout)
		if err != nil { // checkShard made sure it parses
			return cid.Undef, fmt.Errorf("shard %s: %w: %w", shard, ErrBadDAG, err)
		}
		if rest != "" {
			// An entry alone in its bucket: the name is here or nowhere.
			if rest == name {
				return l.CID, nil
			}
			return cid.Undef, ErrNoSuchEntry
		}
		if err := ctx.Err(); err != nil {
			return cid.Undef, err
		}
		shard = l.CID
		if n, err = loadShard(ctx, get, shard); err != nil {
			return cid.Undef, err
		}
	}
}

// loadShard fetches and decodes a sub-shard, which must be one.
func loadShard(ctx context.Context, get BlockGetter, c cid.Cid) (*Node, error) {
	n, err := loadDir(ctx, get, c)
	if err != nil {
		if errors.Is(err, ErrNotDir) {
			return nil, fmt.Errorf("%w: sub-shard %s is not a shard", ErrBadDAG, c)
		}
		return nil, err
	}
	if n.FS.Type != TypeHAMTShard {
		return nil, fmt.Errorf("%w: sub-shard %s is a plain directory", ErrBadDAG, c)
	}
	return n, nil
}

// shardBucket returns the bucket hash h falls in in shard n once the
// shards above consumed used bits of it, and the bits n consumes. As
// boxo's hashBits, each shard takes log2(its fanout) bits, most significant
// first; a hash used up means the shard is deeper than boxo goes.
func shardBucket(n *Node, h uint64, used int) (idx, w int, err error) {
	w = bits.TrailingZeros64(n.FS.Fanout) // checkShard: a power of two
	if used+w > 64 {
		return 0, 0, fmt.Errorf("%w: shards nested past the hash's 64 bits", ErrBadDAG)
	}
	return int(h << used >> (64 - w)), w, nil
}

// shardLink returns the link of bucket idx in shard n, if the bitfield has
// it: checkShard made sure the links are those of the set bits in order, so
// it is the link at the rank of the bit.
func shardLink(n *Node, idx int) (Link, bool) {
	if !bitfieldHas(n.FS.Data, idx) {
		return Link{}, false
	}
	rank := 0
	for i := 0; i < idx; i++ {
		if bitfieldHas(n.FS.Data, i) {
			rank++
		}
	}
	if rank >= len(n.Links) {
		return Link{}, false
	}
	return n.Links[rank], true
}

// ListDir calls fn with every entry of the directory dir (a plain UnixFS
// directory or a HAMT shard, walked through its sub-shards), sorted by name
// (byte order). dir that is not a directory gives ErrNotDir. A HAMT link
// whose name does not fit its shard (bad prefix, bucket not in the
// bitfield, an entry whose hash picks other buckets) is an error wrapping
// ErrBadDAG: Resolve could not find such an entry, so listing it would
// show a name that does not resolve. An error from fn stops the listing and
// is returned as is.
func ListDir(ctx context.Context, get BlockGetter, dir cid.Cid, fn func(DirEntry) error) error {
	n, err := loadDir(ctx, get, dir)
	if err != nil {
		return fmt.Errorf("list %w", err)
	}
	var entries []DirEntry
	if n.FS.Type == TypeDirectory {
		entries = make([]DirEntry, len(n.Links))
		for i, l := range n.Links {
			entries[i] = DirEntry{Name: l.Name, CID: l.CID, Tsize: l.Tsize}
		}
	} else {
		// The entries of a shard come in hash order; they are gathered
		// to be sorted, as a plain directory's are.
		s := shardLister{ctx: ctx, get: get, seen: map[string]bool{dir.KeyString(): true}}
		if err := s.list(dir, n, 0, 0); err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		entries = s.entries
	}
	slices.SortStableFunc(entries, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

type shardLister struct {
	ctx     context.Context
	get     BlockGetter
	seen    map[string]bool
	entries []DirEntry
}

// list gathers the entries of shard n (CID c), whose place in the HAMT is
// the first used bits of the hash, equal to those of prefix.
func (s *shardLister) list(c cid.Cid, n *Node, prefix uint64, used int) error {
	w := bits.TrailingZeros64(n.FS.Fanout)
	if used+w > 64 {
		return fmt.Errorf("%w: shard %s nested past the hash's 64 bits", ErrBadDAG, c)
	}
	for _, l := range n.Links {
		idx, rest, err := HAMTBucket(l.Name, n.FS.Fanout)
		if err != nil {
			return fmt.Errorf("shard %s: %w: %w", c, ErrBadDAG, err)
		}
		if !bitfieldHas(n.FS.Data, idx) {
			return fmt.Errorf("shard %s: %w: link %q in a bucket the bitfield lacks", c, ErrBadDAG, l.Name)
		}
		// The hash bits that lead to this bucket.
		p := prefix | uint64(idx)<<(64-used-w)
		if rest != "" {
			h := murmur3.Sum64([]byte(rest))
			if mask := ^uint64(0) << (64 - used - w); h&mask != p {
				return fmt.Errorf("shard %s: %w: entry %q is in a bucket its hash does not pick", c, ErrBadDAG, rest)
			}
			s.entries = append(s.entries, DirEntry{Name: rest, CID: l.CID, Tsize: l.Tsize})
			continue
		}
		// Each sub-shard is read once: a DAG that reuses one in several
		// buckets (or loops) could not be a HAMT, and would otherwise
		// cost fanout^depth reads.
		if s.seen[l.CID.KeyString()] {
			return fmt.Errorf("shard %s: %w: sub-shard %s linked twice", c, ErrBadDAG, l.CID)
		}
		s.seen[l.CID.KeyString()] = true
		if err := s.ctx.Err(); err != nil {
			return err
		}
		sub, err := loadShard(s.ctx, s.get, l.CID)
		if err != nil {
			return fmt.Errorf("shard %s: %w", c, err)
		}
		if err := s.list(l.CID, sub, p, used+w); err != nil {
			return err
		}
	}
	return nil
}
