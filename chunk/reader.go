package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ipfs/go-cid"
)

// BlockGetter fetches a block by CID. Implementations return bytes they
// have checked against the CID (the store by CRC of what it verified on the
// way in, the network by hashing). A Reader with read-ahead calls Get from
// more than one goroutine at once.
type BlockGetter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// BufferGetter is a BlockGetter that can read a block into a buffer of the
// caller's, so that a long read reuses a few buffers instead of allocating
// (and zeroing) one per block. GetBuffer returns the block's bytes, which
// alias buf when it is large enough and a new buffer otherwise; it also
// returns that buffer (or buf, on an error), which is the caller's to pass
// in again once it no longer needs the bytes.
type BufferGetter interface {
	BlockGetter
	GetBuffer(ctx context.Context, c cid.Cid, buf []byte) (data, backing []byte, err error)
}

var (
	// ErrNotFile means the root is a UnixFS node that is not a file.
	ErrNotFile = errors.New("not a file")
	// ErrBadDAG means the blocks are well formed but do not fit together
	// (a child's size differs from what its parent says, a shard link
	// does not fit its shard, a DAG deeper than maxDepth).
	ErrBadDAG = errors.New("inconsistent DAG")
)

// maxDepth bounds descent through hostile DAGs, and so the depth of
// every DAG cairn takes in: kubo's balanced file trees are a handful of
// levels, but a folder nests as deep as its file system let it (Linux's
// 4 KiB paths allow about 2,000 one-letter folders). AddTree refuses a
// tree deeper than MaxTreeDepth, which leaves room below for its files,
// so that GC, export and reads can always walk what was added.
const maxDepth = 1024

// MaxTreeDepth is the deepest folder nesting AddTree takes.
const MaxTreeDepth = maxDepth - 64

type pathNode struct {
	cid   cid.Cid
	node  *Node
	start uint64 // file offset of the node's first byte
}

// Reader reads a file's bytes from its DAG. It is an io.ReadSeeker: a Seek
// costs nothing, and the next Read walks from the root to the one leaf that
// holds the offset, using the UnixFS blocksizes, so a byte range is read
// without touching the leaves before it. Inner nodes on the current path are
// cached, so a sequential read fetches each block once. With SetReadAhead,
// a sequential read also fetches the next leaves in the background.
type Reader struct {
	ctx  context.Context
	get  BlockGetter
	size uint64
	off  uint64

	leaf    []byte
	leafBuf []byte // the buffer leaf aliases, when it is the reader's own
	leafAt  uint64
	path    []pathNode

	readAhead // see readahead.go
}

// Stat describes a DAG's root.
type Stat struct {
	CID  cid.Cid
	Size uint64 // file bytes (0 for a directory or a symlink); a non-dag-pb block's length
	// RootType is "raw", "file", "directory" (plain or HAMT), "symlink", or
	// for a root that is not dag-pb its codec's name: "dag-cbor",
	// "dag-json", "json" or "cbor".
	RootType string
	Links    int    // links of the root
	Target   string // a symlink's target, as written
	// Cumulative is the root block's bytes plus its links' Tsize, the
	// CumulativeSize `ipfs files stat` shows (for a root of any other codec
	// than dag-pb, its own bytes: only dag-pb links carry sizes).
	// The Tsizes are the parent's word, not checked against the children.
	Cumulative uint64
}

// NewReader opens the file rooted at root. ctx bounds every block fetch
// the reader makes.
func NewReader(ctx context.Context, get BlockGetter, root cid.Cid) (*Reader, error) {
	data, err := get.Get(ctx, root)
	if err != nil {
		return nil, err
	}
	r := &Reader{ctx: ctx, get: get}
	switch root.Type() {
	case cid.Raw:
		r.size = uint64(len(data))
		r.leaf = data
		return r, nil
	case cid.DagProtobuf:
		n, err := DecodeNode(data)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", root, err)
		}
		if n.FS.Type != TypeFile && n.FS.Type != TypeRaw {
			return nil, fmt.Errorf("read %s: %w (UnixFS type %d)", root, ErrNotFile, n.FS.Type)
		}
		r.size = n.FS.FileSize
		r.path = []pathNode{{cid: root, node: n}}
		return r, nil
	}
	return nil, fmt.Errorf("read %s: %w 0x%x", root, ErrUnsupportedCodec, root.Type())
}

// Size is the file's length in bytes.
func (r *Reader) Size() uint64 { return r.size }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	b, err := r.Next(len(p))
	return copy(p, b), err
}

// Next returns up to max of the next bytes of the file and moves past
// them, like Read but without the copy: the bytes are the reader's own
// (they lie in a buffer it reuses) and are valid only until its next
// call. Writing a file out with Next spares a copy of every byte. At the
// end of the file it returns io.EOF.
func (r *Reader) Next(max int) ([]byte, error) {
	if r.off >= r.size {
		return nil, io.EOF
	}
	if r.off < r.leafAt || r.off >= r.leafAt+uint64(len(r.leaf)) {
		if err := r.locate(r.off); err != nil {
			return nil, err
		}
	}
	b := r.leaf[r.off-r.leafAt:]
	if len(b) > max {
		b = b[:max]
	}
	r.off += uint64(len(b))
	return b, nil
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = int64(r.off) + offset
	case io.SeekEnd:
		abs = int64(r.size) + offset
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek: negative position %d", abs)
	}
	r.off = uint64(abs)
	r.aheadEnd = 0
	return abs, nil
}

// locate loads the leaf holding file offset off.
func (r *Reader) locate(off uint64) error {
	// A leaf that starts where the last one ended means a sequential read.
	seq := len(r.leaf) > 0 && off == r.leafAt+uint64(len(r.leaf))
	r.dropLeaf()
	if len(r.path) == 0 {
		return fmt.Errorf("read: offset %d: %w", off, ErrBadDAG) // raw root covers everything
	}
	for depth := 0; ; depth++ {
		if depth >= maxDepth {
			return fmt.Errorf("read: %w: deeper than %d levels", ErrBadDAG, maxDepth)
		}
		cur := r.path[depth]
		n := cur.node
		pos := cur.start
		if off < pos+uint64(len(n.FS.Data)) {
			r.leaf, r.leafAt = n.FS.Data, pos
			return nil
		}
		pos += uint64(len(n.FS.Data))
		i := -1
		for j, bs := range n.FS.BlockSizes {
			if off < pos+bs {
				i = j
				break
			}
			pos += bs
		}
		if i < 0 {
			return fmt.Errorf("read %s: %w: offset %d past the node's end", cur.cid, ErrBadDAG, off)
		}
		if i >= len(n.Links) {
			return fmt.Errorf("read %s: %w: %d blocksizes for %d links", cur.cid, ErrBadDAG, len(n.FS.BlockSizes), len(n.Links))
		}
		want := n.FS.BlockSizes[i]
		child := n.Links[i].CID
		if depth+1 < len(r.path) && r.path[depth+1].cid.Equals(child) && r.path[depth+1].start == pos {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		r.path = r.path[:depth+1]
		if child.Type() == cid.Raw {
			return r.loadLeaf(cur, i, pos, seq)
		}
		data, err := r.get.Get(r.ctx, child)
		if err != nil {
			return fmt.Errorf("read %s: %w", child, err)
		}
		switch child.Type() {
		case cid.DagProtobuf:
			cn, err := DecodeNode(data)
			if err != nil {
				return fmt.Errorf("read %s: %w", child, err)
			}
			if cn.FS.Type != TypeFile && cn.FS.Type != TypeRaw {
				return fmt.Errorf("read %s: %w: UnixFS type %d inside a file", child, ErrBadDAG, cn.FS.Type)
			}
			if cn.FS.FileSize != want {
				return fmt.Errorf("read %s: %w: node holds %d bytes, parent says %d", child, ErrBadDAG, cn.FS.FileSize, want)
			}
			r.path = append(r.path, pathNode{cid: child, node: cn, start: pos})
		default:
			return fmt.Errorf("read %s: %w 0x%x", child, ErrUnsupportedCodec, child.Type())
		}
	}
}

// StatDAG reads only the root block and describes the DAG: a file, a
// directory or a symlink. Other UnixFS types (metadata) give ErrNotFile.
// A root of another codec is described as a block: RootType names the
// codec, Size is the block's length, Links counts its links. An identity
// root is answered from the CID.
func StatDAG(ctx context.Context, get BlockGetter, root cid.Cid) (Stat, error) {
	data, err := getBlock(ctx, get, root)
	if err != nil {
		return Stat{}, err
	}
	switch root.Type() {
	case cid.Raw, cid.DagCBOR, cid.DagJSON, CodecJSON, CodecCBOR:
		links, err := Links(root, data)
		if err != nil {
			return Stat{}, fmt.Errorf("stat %s: %w", root, err)
		}
		return Stat{CID: root, Size: uint64(len(data)), RootType: codecName(root.Type()),
			Links: len(links), Cumulative: uint64(len(data))}, nil
	case cid.DagProtobuf:
		n, err := DecodeNode(data)
		if err != nil {
			return Stat{}, fmt.Errorf("stat %s: %w", root, err)
		}
		st := Stat{CID: root, Links: len(n.Links), Cumulative: uint64(len(data))}
		for _, l := range n.Links {
			// Saturating: hostile Tsizes may add up past 2^64.
			if st.Cumulative+l.Tsize < st.Cumulative {
				st.Cumulative = math.MaxUint64
				break
			}
			st.Cumulative += l.Tsize
		}
		switch n.FS.Type {
		case TypeFile, TypeRaw:
			st.RootType, st.Size = "file", n.FS.FileSize
		case TypeDirectory, TypeHAMTShard:
			st.RootType = "directory"
		case TypeSymlink:
			st.RootType, st.Target = "symlink", string(n.FS.Data)
		default:
			return Stat{}, fmt.Errorf("stat %s: %w (UnixFS type %d)", root, ErrNotFile, n.FS.Type)
		}
		return st, nil
	}
	return Stat{}, fmt.Errorf("stat %s: %w 0x%x", root, ErrUnsupportedCodec, root.Type())
}
