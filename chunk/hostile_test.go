package chunk

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

type mapGetter map[cid.Cid][]byte

func (m mapGetter) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	b, ok := m[c]
	if !ok {
		return nil, errors.New("missing")
	}
	return b, nil
}

// rawNode encodes a dag-pb node with the given links and UnixFS fields.
func rawNode(links []Link, typ uint64, blockSizes []uint64) []byte {
	var fs []byte
	fs = protowire.AppendTag(fs, 1, protowire.VarintType)
	fs = protowire.AppendVarint(fs, typ)
	var total uint64
	for _, s := range blockSizes {
		total += s
	}
	fs = protowire.AppendTag(fs, 3, protowire.VarintType)
	fs = protowire.AppendVarint(fs, total)
	for _, s := range blockSizes {
		fs = protowire.AppendTag(fs, 4, protowire.VarintType)
		fs = protowire.AppendVarint(fs, s)
	}
	var out []byte
	for _, l := range links {
		var lb []byte
		lb = protowire.AppendTag(lb, 1, protowire.BytesType)
		lb = protowire.AppendBytes(lb, l.CID.Bytes())
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, lb)
	}
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	return protowire.AppendBytes(out, fs)
}

func TestReaderRefusesADirectoryInsideAFileWithoutPanicking(t *testing.T) {
	// A "directory" claiming 10 bytes of content and holding no links.
	dir := rawNode(nil, TypeDirectory, []uint64{10})
	dirCID, _ := NewCID(SHA2_256, cid.DagProtobuf, dir)
	if err := Verify(dirCID, dir); err != nil {
		t.Fatalf("the hostile child should pass Verify on its own (it is well formed): %v", err)
	}
	root := rawNode([]Link{{CID: dirCID}}, TypeFile, []uint64{10})
	rootCID, _ := NewCID(SHA2_256, cid.DagProtobuf, root)
	g := mapGetter{dirCID: dir, rootCID: root}

	r, err := NewReader(context.Background(), g, rootCID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrBadDAG) {
		t.Fatalf("read = %v, want ErrBadDAG", err)
	}
}

func TestDecodeNodeRefusesRepeatedOrMisorderedLinkFields(t *testing.T) {
	c, _ := NewCID(SHA2_256, cid.Raw, []byte("x"))
	link := func(fields ...func([]byte) []byte) []byte {
		var lb []byte
		for _, f := range fields {
			lb = f(lb)
		}
		var out []byte
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, lb)
		fs := []byte{0x08, 0x02, 0x18, 0x01, 0x20, 0x01}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		return protowire.AppendBytes(out, fs)
	}
	hash := func(b []byte) []byte {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendBytes(b, c.Bytes())
	}
	name := func(b []byte) []byte {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, "")
	}
	if _, err := DecodeNode(link(hash, name)); err != nil {
		t.Fatalf("well-formed link refused: %v", err)
	}
	for name, b := range map[string][]byte{
		"hash twice":       link(hash, hash),
		"name before hash": link(name, hash),
		"no hash":          link(name),
	} {
		if _, err := DecodeNode(b); !errors.Is(err, ErrBadNode) {
			t.Errorf("%s: DecodeNode = %v, want ErrBadNode", name, err)
		}
	}
}
