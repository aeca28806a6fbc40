package chunk

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
)

// HAMTShardingSize is kubo's threshold (boxo's HAMTShardingSize, 256 KiB):
// a directory whose size estimate is over it is written as a HAMT shard.
// The estimate is boxo's default "links" one: the sum over the entries of
// the name's length plus the CID's length in bytes. Exactly at the
// threshold a directory stays plain.
const HAMTShardingSize = 256 << 10

// hamtMaxDepth is the number of levels a 64-bit hash feeds at 8 bits per
// level; boxo fails past it ("sharded directory too deep").
const hamtMaxDepth = 8

// ErrShardTooDeep means two names of a directory have the same 64-bit
// murmur3 hash, which boxo cannot shard either.
var ErrShardTooDeep = errors.New("sharded directory too deep: names with equal murmur3 hash")

// dirWriter stores the dag-pb nodes of directories and symlinks.
type dirWriter struct {
	sink   BlockSink
	hash   HashFunc
	blocks int
}

// put names data by its CIDv1 (dag-pb) and hands it to the sink.
func (w *dirWriter) put(data []byte) (cid.Cid, error) {
	c, err := NewCID(w.hash, cid.DagProtobuf, data)
	if err != nil {
		return cid.Undef, err
	}
	if w.sink != nil {
		if err := w.sink.PutHashed(c, data); err != nil {
			return cid.Undef, fmt.Errorf("store node %s: %w", c, err)
		}
	}
	w.blocks++
	return c, nil
}

// node stores a dag-pb node and returns the link a parent makes to it:
// its Tsize is the node's bytes plus its links' Tsizes, as boxo's
// ProtoNode.Size computes the cumulative size.
func (w *dirWriter) node(links []Link, data []byte) (Link, error) {
	block := encodePBNode(links, data)
	c, err := w.put(block)
	if err != nil {
		return Link{}, err
	}
	tsize := uint64(len(block))
	for _, l := range links {
		tsize += l.Tsize
	}
	return Link{CID: c, Tsize: tsize}, nil
}

// symlink stores a UnixFS symlink node holding target as written.
func (w *dirWriter) symlink(target string) (Link, error) {
	return w.node(nil, symlinkData(target))
}

// directory stores a directory of the given entries (names unique, any
// order; the slice is sorted in place) as a plain UnixFS directory or, past
// HAMTShardingSize, as a HAMT-sharded one, and returns the link to its root.
func (w *dirWriter) directory(entries []Link) (Link, error) {
	// boxo's ProtoNode sorts links by name (Go string order, so bytes)
	// before encoding.
	slices.SortFunc(entries, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	estimate := 0
	for _, e := range entries {
		estimate += len(e.Name) + e.CID.ByteLen()
	}
	if estimate <= HAMTShardingSize {
		return w.node(entries, dirData())
	}
	hs := make([]hashedLink, len(entries))
	for i, e := range entries {
		hs[i] = hashedLink{Link: e, h: murmur3.Sum64([]byte(e.Name))}
	}
	// Sorted by hash, the entries of any sub-shard (those sharing the hash's
	// first bytes) are contiguous and its buckets come in index order.
	slices.SortFunc(hs, func(a, b hashedLink) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return w.shard(hs, 0)
}

// hashedLink is a directory entry with the murmur3-x64-64 hash of its name
// (boxo hashes with murmur3.New64 and reads the digest big-endian, so byte
// d of the digest, the bucket at depth d, is bits 63-8d..56-8d of h).
type hashedLink struct {
	Link
	h uint64
}

func bucketAt(h uint64, depth int) int { return int(h >> (56 - 8*depth) & 0xff) }

// shard stores the HAMT shard holding entries (sorted by hash, all sharing
// the first depth bytes of it) and its sub-shards. As in boxo, an entry
// alone in its bucket is a link named by the bucket's two uppercase hex
// digits and the entry's name; a bucket of several entries is a sub-shard
// at the next depth, linked by the two digits alone. Insertions alone build
// this shape whatever their order, so building it at once from the sorted
// entries gives kubo's nodes.
func (w *dirWriter) shard(entries []hashedLink, depth int) (Link, error) {
	if depth >= hamtMaxDepth {
		return Link{}, fmt.Errorf("%w (%q and %q)", ErrShardTooDeep, entries[0].Name, entries[1].Name)
	}
	var bitfield [HAMTFanout / 8]byte
	var links []Link
	for i := 0; i < len(entries); {
		b := bucketAt(entries[i].h, depth)
		j := i + 1
		for j < len(entries) && bucketAt(entries[j].h, depth) == b {
			j++
		}
		prefix := fmt.Sprintf("%02X", b)
		if j-i == 1 {
			l := entries[i].Link
			l.Name = prefix + l.Name
			links = append(links, l)
		} else {
			sub, err := w.shard(entries[i:j], depth+1)
			if err != nil {
				return Link{}, err
			}
			sub.Name = prefix
			links = append(links, sub)
		}
		// go-bitfield's layout: bit b is bit b%8 of the b/8-th byte from
		// the end.
		bitfield[len(bitfield)-1-b/8] |= 1 << (b % 8)
		i = j
	}
	// go-bitfield's Bytes trims leading zero bytes, and boxo stores that.
	bf := bitfield[:]
	for len(bf) > 0 && bf[0] == 0 {
		bf = bf[1:]
	}
	return w.node(links, hamtData(bf, HAMTFanout))
}

// hamtBucketOf is the bucket name falls in at depth (0 for the root shard)
// of a fanout-256 HAMT.
func hamtBucketOf(name string, depth int) int {
	return bucketAt(murmur3.Sum64([]byte(name)), depth)
}
