package chunk

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// anyBlock serves the same bytes for every CID: a hostile DAG whose every
// link leads back to the fuzzed node, cycles included.
type anyBlock []byte

func (b anyBlock) Get(context.Context, cid.Cid) ([]byte, error) { return b, nil }

// FuzzDirectory reads any bytes as a UnixFS directory or HAMT shard, as a
// peer or a CAR can serve: Resolve and ListDir must end (with an answer or
// an error) without a panic, however the links loop.
func FuzzDirectory(f *testing.F) {
	leaf, _ := NewCID(SHA2_256, cid.Raw, []byte("leaf"))
	f.Add(encodePBNode([]Link{{CID: leaf, Name: "a", Tsize: 4}}, dirData()))
	self, _ := mh.Sum([]byte("shard"), mh.SHA2_256, -1)
	shardCID := cid.NewCidV1(cid.DagProtobuf, self)
	bitfield := make([]byte, HAMTFanout/8)
	bitfield[len(bitfield)-1] = 1
	f.Add(encodePBNode([]Link{{CID: shardCID, Name: "00", Tsize: 10}}, hamtData(bitfield, HAMTFanout)))
	f.Add(encodePBNode([]Link{{CID: leaf, Name: "00a", Tsize: 4}}, hamtData(bitfield, HAMTFanout)))
	f.Add([]byte{0x0a, 0x02, 0x08, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := mh.Sum(b, mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		root := cid.NewCidV1(cid.DagProtobuf, h)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, path := range []string{"a", "00a", "a/b/c", "x"} {
			Resolve(ctx, anyBlock(b), root, path)
		}
		n := 0
		ListDir(ctx, anyBlock(b), root, func(DirEntry) error { n++; return nil })
		if ctx.Err() != nil {
			t.Fatal("a hostile directory kept Resolve or ListDir busy for 10s")
		}
	})
}

// FuzzParseCID parses any text as a CID from the API or a URL: no panic,
// and a CID it accepts prints as text that parses to the same CID.
func FuzzParseCID(f *testing.F) {
	f.Add("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	f.Add("QmWQzUQTr532MWe1xottzYbuG1XaCQUYXRnS7P6rQVifT2")
	f.Add(" zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA ")
	f.Add("f01")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCID(s)
		if err != nil {
			return
		}
		again, err := ParseCID(c.String())
		if err != nil || !again.Equals(c) {
			t.Fatalf("%q parsed as %s, which parses as %v (%v)", s, c, again, err)
		}
	})
}
