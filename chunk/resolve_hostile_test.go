package chunk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// lyingGetter serves blocks by CID without checking them against it, as a
// hostile peer would if nothing checked: it lets a test make a node that
// links to itself, which hashing makes impossible to build honestly.
type lyingGetter struct {
	blocks map[cid.Cid][]byte
	reads  int
}

func (g *lyingGetter) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	g.reads++
	b, ok := g.blocks[c]
	if !ok {
		return nil, errors.New("missing")
	}
	return b, nil
}

func pbCID(t *testing.T, b []byte) cid.Cid {
	t.Helper()
	c, err := NewCID(SHA2_256, cid.DagProtobuf, b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shardBlock encodes a fanout-256 shard holding links, each named with
// its bucket's prefix already, the bitfield setting the given buckets.
func shardBlock(links []Link, buckets ...int) []byte {
	var bf [HAMTFanout / 8]byte
	for _, b := range buckets {
		bf[len(bf)-1-b/8] |= 1 << (b % 8)
	}
	trimmed := bf[:]
	for len(trimmed) > 0 && trimmed[0] == 0 {
		trimmed = trimmed[1:]
	}
	return encodePBNode(links, hamtData(trimmed, HAMTFanout))
}

func TestResolveSelfLinkingDirectoryStopsAtMaxDepth(t *testing.T) {
	// The directory's link "a" names loop, which the getter serves as the
	// directory itself.
	loop := pbCID(t, []byte("loop"))
	dir := encodePBNode([]Link{{CID: loop, Name: "a", Tsize: 1}}, dirData())
	root := pbCID(t, dir)
	g := &lyingGetter{blocks: map[cid.Cid][]byte{root: dir, loop: dir}}
	ctx := context.Background()

	deep := strings.Repeat("a/", maxDepth)
	got, err := Resolve(ctx, g, root, deep)
	if err != nil || got != loop {
		t.Fatalf("Resolve of %d levels = %s, %v; want %s", maxDepth, got, err, loop)
	}
	if g.reads != maxDepth {
		t.Errorf("%d blocks read for %d levels", g.reads, maxDepth)
	}
	for _, levels := range []int{maxDepth + 1, 10000} {
		g.reads = 0
		_, err := Resolve(ctx, g, root, strings.Repeat("a/", levels))
		if !errors.Is(err, ErrBadDAG) {
			t.Errorf("Resolve of %d levels = %v, want ErrBadDAG", levels, err)
		}
		if g.reads > maxDepth {
			t.Errorf("%d levels: %d blocks read", levels, g.reads)
		}
	}
}

func TestHAMTShardLoopsAreBounded(t *testing.T) {
	// A shard whose 256 buckets are all sub-shards, all the same one,
	// which the getter serves as the shard itself: any name goes down
	// forever, and listing it would cost 256^depth reads.
	loop := pbCID(t, []byte("loop"))
	var links []Link
	var buckets []int
	for b := 0; b < HAMTFanout; b++ {
		links = append(links, Link{CID: loop, Name: fmt.Sprintf("%02X", b), Tsize: 1})
		buckets = append(buckets, b)
	}
	shard := shardBlock(links, buckets...)
	if _, err := DecodeNode(shard); err != nil {
		t.Fatalf("the shard should be well formed on its own: %v", err)
	}
	root := pbCID(t, shard)
	g := &lyingGetter{blocks: map[cid.Cid][]byte{root: shard, loop: shard}}
	ctx := context.Background()

	if _, err := Resolve(ctx, g, root, "anything"); !errors.Is(err, ErrBadDAG) {
		t.Errorf("Resolve = %v, want ErrBadDAG", err)
	}
	// 64 bits of hash at 8 bits a level: the root and 8 sub-shards.
	if g.reads > 1+hamtMaxDepth {
		t.Errorf("Resolve read %d blocks", g.reads)
	}
	g.reads = 0
	err := ListDir(ctx, g, root, func(DirEntry) error { return nil })
	if !errors.Is(err, ErrBadDAG) {
		t.Errorf("ListDir = %v, want ErrBadDAG", err)
	}
	if g.reads > 3 {
		t.Errorf("ListDir read %d blocks", g.reads)
	}
}

func TestHAMTLinksThatDoNotFitTheirShardAreRefused(t *testing.T) {
	file, _ := NewCID(SHA2_256, cid.Raw, []byte("x"))
	// A name whose bucket at depth 0 is not 0x00, filed under 00.
	name := "misfiled"
	for i := 0; hamtBucketOf(name, 0) == 0; i++ {
		name = fmt.Sprintf("misfiled-%d", i)
	}
	plain := encodePBNode(nil, dirData())
	plainCID := pbCID(t, plain)
	for _, tc := range []struct {
		what       string
		block      []byte
		resolveErr error // of Resolve(name)
	}{
		{"prefix not hex", shardBlock([]Link{{CID: file, Name: "ZZ" + name}}, 0), ErrBadDAG},
		{"prefix too short", shardBlock([]Link{{CID: file, Name: "0"}}, 0), ErrBadDAG},
		{"links out of bucket order", shardBlock([]Link{{CID: file, Name: "0a" + name}, {CID: file, Name: "01x"}}, 1, 10), ErrBadDAG},
		{"bucket not in the bitfield", shardBlock([]Link{{CID: file, Name: "01" + name}}, 0), ErrBadDAG},
		{"entry in a bucket its hash does not pick", shardBlock([]Link{{CID: file, Name: "00" + name}}, 0), ErrNoSuchEntry},
		{"sub-shard that is a plain directory", shardBlock([]Link{{CID: plainCID, Name: fmt.Sprintf("%02X", hamtBucketOf(name, 0))}}, hamtBucketOf(name, 0)), ErrBadDAG},
		{"sub-shard that is a file", shardBlock([]Link{{CID: file, Name: fmt.Sprintf("%02X", hamtBucketOf(name, 0))}}, hamtBucketOf(name, 0)), ErrBadDAG},
	} {
		root := pbCID(t, tc.block)
		g := &lyingGetter{blocks: map[cid.Cid][]byte{root: tc.block, plainCID: plain}}
		err := ListDir(context.Background(), g, root, func(DirEntry) error { return nil })
		if !errors.Is(err, ErrBadDAG) {
			t.Errorf("%s: ListDir = %v, want ErrBadDAG", tc.what, err)
		}
		if _, err := Resolve(context.Background(), g, root, name); !errors.Is(err, tc.resolveErr) {
			t.Errorf("%s: Resolve = %v, want %v", tc.what, err, tc.resolveErr)
		}
	}
}
