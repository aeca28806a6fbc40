package pinset

import (
	"testing"

	"github.com/ipfs/go-cid"
	pb "github.com/ipfs/go-ds-crdt/pb"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
)

// FuzzDelta checks any block a peer could serve as a delta: decodeDelta
// never panics, and a delta it accepts holds only entries that decode.
func FuzzDelta(f *testing.F) {
	good, _ := proto.Marshal(&pb.Delta{Elements: []*pb.Element{{Key: "/bafkqaaa", Value: []byte(`{"at":1,"bytes":2}`)}}})
	f.Add(good)
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 0x2f})
	f.Fuzz(func(t *testing.T, data []byte) {
		nd, err := wrapDelta(data)
		if err != nil {
			return
		}
		if _, err := decodeDelta(nd.Cid(), nd.RawData()); err != nil {
			return
		}
		var d pb.Delta
		if err := proto.Unmarshal(data, &d); err != nil {
			t.Fatalf("an accepted delta does not decode: %v", err)
		}
		for _, e := range d.Elements {
			if _, err := decodePin(e.Key, e.Value); err != nil {
				t.Fatalf("an accepted delta holds a bad entry: %v", err)
			}
		}
	})
}

// FuzzHeads decodes any announcement: never a panic, and accepted heads
// are CIDv1 dag-pb SHA-256.
func FuzzHeads(f *testing.F) {
	h, _ := mh.Sum([]byte("x"), mh.SHA2_256, -1)
	good, _ := encodeHeads([]cid.Cid{cid.NewCidV1(cid.DagProtobuf, h)})
	f.Add(good)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		heads, err := decodeHeads(data)
		if err != nil {
			return
		}
		for _, c := range heads {
			if checkDeltaCID(c) != nil {
				t.Fatalf("accepted head %s", c)
			}
		}
	})
}
