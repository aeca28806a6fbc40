package chunk

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

// UnixFS data types (unixfs.proto).
const (
	TypeRaw       = 0
	TypeDirectory = 1
	TypeFile      = 2
	TypeMetadata  = 3
	TypeSymlink   = 4
	TypeHAMTShard = 5
)

// maxLinksDecoded bounds what a hostile node may make us allocate.
const maxLinksDecoded = 1 << 16

// Link is a dag-pb link. Files built by cairn leave Name empty.
type Link struct {
	CID   cid.Cid
	Name  string
	Tsize uint64
}

// Node is a decoded dag-pb node with its UnixFS payload decoded too.
type Node struct {
	Links []Link
	FS    FSNode
}

// FSNode is the UnixFS message in a dag-pb node's Data field.
type FSNode struct {
	Type       uint64
	Data       []byte
	FileSize   uint64
	BlockSizes []uint64
	// HashType and Fanout are set in HAMT shards (Data then holds the
	// bitfield of occupied buckets).
	HashType uint64
	Fanout   uint64
}

// ContentSize is the number of file bytes below (and in) the node.
func (n *Node) ContentSize() uint64 { return n.FS.FileSize }

// encodeFileNode encodes an inner file node exactly as kubo does: links
// first (Hash, empty Name, Tsize), then Data = UnixFS{Type: File,
// filesize, blocksizes...}.
func encodeFileNode(links []Link, blockSizes []uint64) []byte {
	var fs []byte
	var total uint64
	for _, s := range blockSizes {
		total += s
	}
	fs = protowire.AppendTag(fs, 1, protowire.VarintType)
	fs = protowire.AppendVarint(fs, TypeFile)
	fs = protowire.AppendTag(fs, 3, protowire.VarintType)
	fs = protowire.AppendVarint(fs, total)
	for _, s := range blockSizes {
		fs = protowire.AppendTag(fs, 4, protowire.VarintType)
		fs = protowire.AppendVarint(fs, s)
	}

	return encodePBNode(links, fs)
}

// DecodeNode decodes a dag-pb block strictly (as go-codec-dagpb does: no
// unknown fields, links before data, every link with a valid CID) and its
// UnixFS payload. It never panics on garbage.
func DecodeNode(b []byte) (*Node, error) {
	n := &Node{}
	var data []byte
	haveData := false
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, fmt.Errorf("%w: %v", ErrBadNode, protowire.ParseError(l))
		}
		b = b[l:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			return nil, fmt.Errorf("%w: unexpected field %d (wire type %d)", ErrBadNode, num, typ)
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return nil, fmt.Errorf("%w: %v", ErrBadNode, protowire.ParseError(l))
		}
		b = b[l:]
		switch num {
		case 1:
			if haveData {
				return nil, fmt.Errorf("%w: duplicate Data", ErrBadNode)
			}
			data, haveData = v, true
		case 2:
			if haveData {
				return nil, fmt.Errorf("%w: link after Data", ErrBadNode)
			}
			if len(n.Links) >= maxLinksDecoded {
				return nil, fmt.Errorf("%w: too many links", ErrBadNode)
			}
			link, err := decodeLink(v)
			if err != nil {
				return nil, err
			}
			n.Links = append(n.Links, link)
		}
	}
	if !haveData {
		return nil, fmt.Errorf("%w: no UnixFS data", ErrBadNode)
	}
	fs, err := decodeFS(data)
	if err != nil {
		return nil, err
	}
	n.FS = fs
	if err := checkUnixFS(n); err != nil {
		return nil, err
	}
	if fs.Type == TypeFile || fs.Type == TypeRaw {
		if len(fs.BlockSizes) != len(n.Links) {
			return nil, fmt.Errorf("%w: %d blocksizes for %d links", ErrBadNode, len(fs.BlockSizes), len(n.Links))
		}
		sum := uint64(len(fs.Data))
		for _, s := range fs.BlockSizes {
			if sum+s < sum {
				return nil, fmt.Errorf("%w: blocksizes overflow", ErrBadNode)
			}
			sum += s
		}
		if fs.FileSize != sum {
			return nil, fmt.Errorf("%w: filesize %d but content adds up to %d", ErrBadNode, fs.FileSize, sum)
		}
	}
	return n, nil
}

// decodeLink decodes a PBLink strictly: fields in order Hash, Name,
// Tsize, each at most once, Hash required.
func decodeLink(b []byte) (Link, error) {
	var l Link
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return l, fmt.Errorf("%w: link: %v", ErrBadNode, protowire.ParseError(n))
		}
		b = b[n:]
		if num <= last {
			return l, fmt.Errorf("%w: link: field %d repeated or out of order", ErrBadNode, num)
		}
		last = num
		switch {
		case (num == 1 || num == 2) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return l, fmt.Errorf("%w: link field %d: %v", ErrBadNode, num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == 2 {
				l.Name = string(v)
				continue
			}
			c, err := cid.Cast(v)
			if err != nil {
				return l, fmt.Errorf("%w: link hash: %v", ErrBadNode, err)
			}
			l.CID = c
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return l, fmt.Errorf("%w: link tsize: %v", ErrBadNode, protowire.ParseError(n))
			}
			b = b[n:]
			l.Tsize = v
		default:
			return l, fmt.Errorf("%w: link: unexpected field %d (wire type %d)", ErrBadNode, num, typ)
		}
	}
	if !l.CID.Defined() {
		return l, fmt.Errorf("%w: link without hash", ErrBadNode)
	}
	return l, nil
}

func decodeFS(b []byte) (FSNode, error) {
	var fs FSNode
	haveType := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fs, fmt.Errorf("%w: unixfs: %v", ErrBadNode, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs type: %v", ErrBadNode, protowire.ParseError(n))
			}
			b = b[n:]
			fs.Type, haveType = v, true
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs data: %v", ErrBadNode, protowire.ParseError(n))
			}
			b = b[n:]
			fs.Data = v
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs filesize: %v", ErrBadNode, protowire.ParseError(n))
			}
			b = b[n:]
			fs.FileSize = v
		case num == 4 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs blocksize: %v", ErrBadNode, protowire.ParseError(n))
			}
			b = b[n:]
			if len(fs.BlockSizes) >= maxLinksDecoded {
				return fs, fmt.Errorf("%w: too many blocksizes", ErrBadNode)
			}
			fs.BlockSizes = append(fs.BlockSizes, v)
		case (num == 5 || num == 6) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs field %d: %v", ErrBadNode, num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == 5 {
				fs.HashType = v
			} else {
				fs.Fanout = v
			}
		default:
			// Other UnixFS fields (mode, mtime) change neither a file's
			// bytes nor a directory's entries; skip them.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fs, fmt.Errorf("%w: unixfs field %d: %v", ErrBadNode, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !haveType {
		return fs, fmt.Errorf("%w: unixfs without type", ErrBadNode)
	}
	return fs, nil
}
