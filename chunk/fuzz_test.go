package chunk

import (
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// FuzzDagPB decodes any bytes as a dag-pb block, as every block from a
// peer, an upload or a CAR is: Verify, Links and DecodeNode must never
// panic, and a block Verify accepts has links Links can list.
func FuzzDagPB(f *testing.F) {
	leaf, _ := NewCID(SHA2_256, cid.Raw, []byte("leaf"))
	f.Add(encodeFileNode([]Link{{CID: leaf, Tsize: 4}, {CID: leaf, Tsize: 4}}, []uint64{4, 4}))
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := mh.Sum(b, mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		c := cid.NewCidV1(cid.DagProtobuf, h)
		DecodeNode(b)
		if Verify(c, b) != nil {
			return
		}
		if _, err := Links(c, b); err != nil {
			t.Fatalf("a block Verify accepts has links Links cannot list: %v", err)
		}
	})
}
