package exchange

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"
)

// FuzzReadFrame feeds the frame reader any bytes a peer could send: it
// must never panic, never hand out a body over the type's limit, and
// never allocate more than it was sent plus one frame header's promise
// of at most MaxFrame.
func FuzzReadFrame(f *testing.F) {
	var good bytes.Buffer
	w := bufio.NewWriter(&good)
	writeFrame(w, typeWant, encodeCIDs([]cid.Cid{cid.MustParse("bafkqaaa")}))
	w.Flush()
	f.Add(good.Bytes())
	f.Add([]byte{typeBlock, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		typ, body, err := readFrame(r, func(byte) int { return 1 << 10 })
		if err == nil && len(body) > 1<<10 {
			t.Fatalf("frame of type %#x with a %d-byte body past its limit", typ, len(body))
		}
	})
}

// FuzzDecodeCIDs decodes any CID list: at most max, each a valid CID.
func FuzzDecodeCIDs(f *testing.F) {
	f.Add(encodeCIDs([]cid.Cid{cid.MustParse("bafkqaaa"), cid.MustParse("bafkqaaa")}))
	f.Add([]byte{0x01, 0x55, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		cids, err := decodeCIDs(b, 4)
		if err != nil {
			return
		}
		if len(cids) > 4 {
			t.Fatalf("%d CIDs decoded, at most 4 asked", len(cids))
		}
		for _, c := range cids {
			if !c.Defined() {
				t.Fatal("an undefined CID decoded")
			}
		}
	})
}
