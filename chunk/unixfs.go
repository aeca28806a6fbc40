package chunk

import (
	"fmt"
	"math/bits"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// HAMT parameters kubo (boxo) writes and cairn reads.
const (
	// HashMurmur3 is the multicodec of murmur3-x64-64, the only hash
	// function boxo shards directories with.
	HashMurmur3 = 0x22
	// HAMTFanout is the width of every shard kubo writes: 256 buckets, so
	// one byte of the name's hash per level and two hex digits of prefix.
	HAMTFanout = 256
	// maxHAMTFanout is the widest shard boxo accepts (its maximumHamtWidth);
	// wider ones are refused so a hostile node cannot make us allocate.
	maxHAMTFanout = 1 << 10
)

// encodePBNode encodes a dag-pb node as kubo does: every link (Hash, Name,
// Tsize, the Name written even when empty), then Data. The caller orders
// the links; kubo sorts directory links by name, byte order.
func encodePBNode(links []Link, data []byte) []byte {
	size := len(data) + 4
	for _, l := range links {
		size += len(l.Name) + 56
	}
	out := make([]byte, 0, size)
	var lb []byte
	for _, l := range links {
		lb = lb[:0]
		lb = protowire.AppendTag(lb, 1, protowire.BytesType)
		lb = protowire.AppendBytes(lb, l.CID.Bytes())
		lb = protowire.AppendTag(lb, 2, protowire.BytesType)
		lb = protowire.AppendString(lb, l.Name)
		lb = protowire.AppendTag(lb, 3, protowire.VarintType)
		lb = protowire.AppendVarint(lb, l.Tsize)
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, lb)
	}
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	return protowire.AppendBytes(out, data)
}

// dirData is the UnixFS message of a plain directory without mode or
// mtime, which `ipfs add` does not record by default: just Type.
func dirData() []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	return protowire.AppendVarint(b, TypeDirectory)
}

// symlinkData is the UnixFS message of a symlink: Type and the target
// text as written, no filesize (boxo's SymlinkData sets neither).
func symlinkData(target string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, TypeSymlink)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, target)
}

// hamtData is the UnixFS message of a HAMT shard, fields in number order
// as protobuf marshals them: Type, Data (the bitfield), hashType, fanout.
func hamtData(bitfield []byte, fanout uint64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, TypeHAMTShard)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, bitfield)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, HashMurmur3)
	b = protowire.AppendTag(b, 6, protowire.VarintType)
	return protowire.AppendVarint(b, fanout)
}

// HAMTPrefixLen is the number of hex digits that prefix a link name in a
// shard of the given fanout (2 for 256), as boxo pads bucket indexes.
func HAMTPrefixLen(fanout uint64) int {
	return len(strconv.FormatUint(fanout-1, 16))
}

// HAMTBucket returns the bucket index a shard link's name starts with and
// the rest of the name (the entry's own name; empty for a sub-shard).
func HAMTBucket(name string, fanout uint64) (int, string, error) {
	p := HAMTPrefixLen(fanout)
	if len(name) < p {
		return 0, "", fmt.Errorf("%w: shard link name %q shorter than its %d-digit prefix", ErrBadNode, name, p)
	}
	idx, err := strconv.ParseUint(name[:p], 16, 32)
	if err != nil || idx >= fanout {
		return 0, "", fmt.Errorf("%w: shard link name %q: bad bucket prefix", ErrBadNode, name)
	}
	return int(idx), name[p:], nil
}

// bitfieldHas reports whether bit i is set in a big-endian bitfield whose
// leading zero bytes were trimmed (go-bitfield's Bytes): bit 0 is the low
// bit of the last byte.
func bitfieldHas(bf []byte, i int) bool {
	byteIdx := len(bf) - 1 - i/8
	return byteIdx >= 0 && bf[byteIdx]&(1<<(i%8)) != 0
}

// checkUnixFS checks the UnixFS fields of the node types DecodeNode does not
// check as files: a symlink has no links, and a HAMT shard declares a hash
// function cairn knows, a sane fanout and a bitfield that names exactly the
// buckets its links are in, in order. Readers index shard links by the rank
// of their bit, so a shard that fails this would send lookups astray.
func checkUnixFS(n *Node) error {
	switch n.FS.Type {
	case TypeSymlink:
		if len(n.Links) != 0 {
			return fmt.Errorf("%w: symlink with %d links", ErrBadNode, len(n.Links))
		}
	case TypeHAMTShard:
		if err := checkShard(n); err != nil {
			return badShardError{err}
		}
	}
	return nil
}

// badShardError marks the ErrBadNode errors of checkShard, so that
// ListDir and Resolve can report a shard whose links do not fit it as
// ErrBadDAG too; the message and the ErrBadNode in it are unchanged.
type badShardError struct{ error }

func (e badShardError) Unwrap() error { return e.error }

func checkShard(n *Node) error {
	fs := &n.FS
	if fs.HashType != HashMurmur3 {
		return fmt.Errorf("%w: shard hash type 0x%x, only murmur3-x64-64 (0x22) is known", ErrBadNode, fs.HashType)
	}
	if fs.Fanout < 8 || fs.Fanout > maxHAMTFanout || fs.Fanout&(fs.Fanout-1) != 0 {
		return fmt.Errorf("%w: shard fanout %d is not a power of two from 8 to %d", ErrBadNode, fs.Fanout, maxHAMTFanout)
	}
	if uint64(len(fs.Data))*8 > fs.Fanout {
		return fmt.Errorf("%w: shard bitfield of %d bytes for fanout %d", ErrBadNode, len(fs.Data), fs.Fanout)
	}
	set := 0
	for _, b := range fs.Data {
		set += bits.OnesCount8(b)
	}
	if set != len(n.Links) {
		return fmt.Errorf("%w: shard bitfield has %d buckets set but the node has %d links", ErrBadNode, set, len(n.Links))
	}
	last := -1
	for _, l := range n.Links {
		idx, _, err := HAMTBucket(l.Name, fs.Fanout)
		if err != nil {
			return err
		}
		if idx <= last || !bitfieldHas(fs.Data, idx) {
			return fmt.Errorf("%w: shard link %q out of order or in a bucket the bitfield lacks", ErrBadNode, l.Name)
		}
		last = idx
	}
	return nil
}
