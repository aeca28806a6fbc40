package chunk

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

// shardFields encodes a HAMT shard's UnixFS message with chosen fields, to
// make well-formed and malformed shards alike.
func shardFields(bitfield []byte, hashType, fanout uint64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, TypeHAMTShard)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, bitfield)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, hashType)
	b = protowire.AppendTag(b, 6, protowire.VarintType)
	return protowire.AppendVarint(b, fanout)
}

func testLeaf(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := NewCID(SHA2_256, cid.Raw, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecodeDirectorySymlinkAndShardNodes(t *testing.T) {
	a, b := testLeaf(t, "a"), testLeaf(t, "b")
	dir := encodePBNode([]Link{{CID: a, Name: "a", Tsize: 1}, {CID: b, Name: "b", Tsize: 1}}, dirData())
	n, err := DecodeNode(dir)
	if err != nil || n.FS.Type != TypeDirectory || len(n.Links) != 2 || n.Links[1].Name != "b" {
		t.Fatalf("directory: %+v, %v", n, err)
	}
	sym, err := DecodeNode(encodePBNode(nil, symlinkData("../x")))
	if err != nil || sym.FS.Type != TypeSymlink || string(sym.FS.Data) != "../x" {
		t.Fatalf("symlink: %+v, %v", sym, err)
	}
	// Buckets 0x01 and 0x0A: bits 1 and 10 of a trimmed big-endian bitfield.
	links := []Link{{CID: a, Name: "01a", Tsize: 1}, {CID: b, Name: "0A", Tsize: 1}}
	sh, err := DecodeNode(encodePBNode(links, hamtData([]byte{0x04, 0x02}, HAMTFanout)))
	if err != nil {
		t.Fatal(err)
	}
	if sh.FS.Type != TypeHAMTShard || sh.FS.Fanout != 256 || sh.FS.HashType != HashMurmur3 {
		t.Fatalf("shard fields: %+v", sh.FS)
	}
	if idx, rest, err := HAMTBucket(sh.Links[0].Name, sh.FS.Fanout); idx != 1 || rest != "a" || err != nil {
		t.Fatalf("HAMTBucket(%q) = %d %q %v", sh.Links[0].Name, idx, rest, err)
	}
}

func TestDecodeRefusesMalformedShards(t *testing.T) {
	a, b := testLeaf(t, "a"), testLeaf(t, "b")
	two := []Link{{CID: a, Name: "01a"}, {CID: b, Name: "0Ab"}}
	cases := map[string][]byte{
		"bitfield longer than fanout/8": encodePBNode(two, shardFields(append(make([]byte, 31), 0x04, 0x02), HashMurmur3, 256)),
		"fanout not a power of two":     encodePBNode(two, shardFields([]byte{0x04, 0x02}, HashMurmur3, 255)),
		"fanout zero (missing)":         encodePBNode(two, shardFields([]byte{0x04, 0x02}, HashMurmur3, 0)),
		"fanout too wide":               encodePBNode(two, shardFields([]byte{0x04, 0x02}, HashMurmur3, 1<<16)),
		"unknown hash type":             encodePBNode(two, shardFields([]byte{0x04, 0x02}, 0x23, 256)),
		"bits set without links":        encodePBNode(two[:1], shardFields([]byte{0x04, 0x02}, HashMurmur3, 256)),
		"link in an unset bucket":       encodePBNode(two, shardFields([]byte{0x04, 0x01}, HashMurmur3, 256)),
		"links out of order":            encodePBNode([]Link{two[1], two[0]}, shardFields([]byte{0x04, 0x02}, HashMurmur3, 256)),
		"name without prefix":           encodePBNode([]Link{{CID: a, Name: "x"}}, shardFields([]byte{0x02}, HashMurmur3, 256)),
		"prefix not hex":                encodePBNode([]Link{{CID: a, Name: "zza"}}, shardFields([]byte{0x02}, HashMurmur3, 256)),
		"symlink with a link":           encodePBNode([]Link{{CID: a, Name: "x"}}, symlinkData("x")),
	}
	for name, block := range cases {
		c, _ := NewCID(SHA2_256, cid.DagProtobuf, block)
		if err := Verify(c, block); !errors.Is(err, ErrBadNode) {
			t.Errorf("%s: Verify = %v, want ErrBadNode", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestShardLayout(t *testing.T) {
	// A directory over the threshold: the root shard's links come in
	// bucket order with two uppercase hex digits, a bucket of several names
	// is a sub-shard named by the digits alone, and every name is found
	// in the bucket its hash selects.
	var entries []Link
	for i := 0; len(entries) == 0 || estimateOf(entries) <= HAMTShardingSize; i++ {
		entries = append(entries, Link{CID: testLeaf(t, fmt.Sprint(i)), Name: fmt.Sprintf("entry-%06d", i), Tsize: 1})
	}
	sink := newBlockMap()
	w := &dirWriter{sink: sink, hash: SHA2_256}
	root, err := w.directory(entries)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	var walk func(c cid.Cid, depth int)
	walk = func(c cid.Cid, depth int) {
		n, err := DecodeNode(sink[c])
		if err != nil || n.FS.Type != TypeHAMTShard {
			t.Fatalf("shard %s: type %d, %v", c, n.FS.Type, err)
		}
		for _, l := range n.Links {
			idx, rest, err := HAMTBucket(l.Name, n.FS.Fanout)
			if err != nil || l.Name[:2] != fmt.Sprintf("%02X", idx) {
				t.Fatalf("link %q: %d %v", l.Name, idx, err)
			}
			if rest == "" {
				walk(l.CID, depth+1)
				continue
			}
			if got := hamtBucketOf(rest, depth); got != idx {
				t.Errorf("%q in bucket %d at depth %d, its hash says %d", rest, idx, depth, got)
			}
			found++
		}
	}
	walk(root.CID, 0)
	if found != len(entries) {
		t.Fatalf("found %d entries in the shards, added %d", found, len(entries))
	}
}

func estimateOf(ls []Link) int {
	n := 0
	for _, l := range ls {
		n += len(l.Name) + l.CID.ByteLen()
	}
	return n
}

type blockMap map[cid.Cid][]byte

func newBlockMap() blockMap { return blockMap{} }

func (m blockMap) PutHashed(c cid.Cid, data []byte) error {
	m[c] = append([]byte(nil), data...)
	return nil
}
