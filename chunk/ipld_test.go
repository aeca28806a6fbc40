package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	mh "github.com/multiformats/go-multihash"
)

// mkCID names data with the given codec and multihash function; version 0
// gives a CIDv0 (dag-pb and sha2-256 only).
func mkCID(t *testing.T, version int, codec, hash uint64, data []byte) cid.Cid {
	t.Helper()
	var digest []byte
	switch hash {
	case mh.SHA2_256:
		d := sha256.Sum256(data)
		digest = d[:]
	case mh.SHA2_512:
		d := sha512.Sum512(data)
		digest = d[:]
	case mh.IDENTITY:
		digest = data
	default:
		t.Fatalf("mkCID: hash 0x%x", hash)
	}
	m, err := mh.Encode(digest, hash)
	if err != nil {
		t.Fatal(err)
	}
	if version == 0 {
		return cid.NewCidV0(m)
	}
	return cid.NewCidV1(codec, m)
}

// encode builds a map with go-ipld-prime and encodes it with enc.
func encode(t *testing.T, enc func(datamodel.Node, *bytes.Buffer) error, fn func(datamodel.MapAssembler)) []byte {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, -1, fn)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := enc(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func cborEnc(n datamodel.Node, b *bytes.Buffer) error { return dagcbor.Encode(n, b) }
func jsonEnc(n datamodel.Node, b *bytes.Buffer) error { return dagjson.Encode(n, b) }

func link(c cid.Cid) qp.Assemble { return qp.Link(cidlink.Link{Cid: c}) }

// mixedDAG is a dag-cbor root linking a dag-pb file (CIDv0) with a raw
// leaf, a raw leaf, a dag-json node (which links that raw leaf again,
// another raw block and an identity CID) and an identity CID.
type mixedDAG struct {
	blocks                       mapGetter
	root, file, fileLeaf, leaf   cid.Cid
	jsonNode, jsonLeaf, identity cid.Cid
}

func buildMixedDAG(t *testing.T, hash uint64) mixedDAG {
	t.Helper()
	d := mixedDAG{blocks: mapGetter{}}
	put := func(version int, codec uint64, data []byte) cid.Cid {
		h := hash
		if version == 0 {
			h = mh.SHA2_256 // the only hash a CIDv0 can have
		}
		c := mkCID(t, version, codec, h, data)
		d.blocks[c] = data
		return c
	}
	d.identity = mkCID(t, 1, cid.Raw, mh.IDENTITY, []byte("tiny"))
	d.fileLeaf = put(1, cid.Raw, []byte("the file's only leaf"))
	d.file = put(0, cid.DagProtobuf, rawNode([]Link{{CID: d.fileLeaf}}, TypeFile, []uint64{20}))
	d.leaf = put(1, cid.Raw, []byte("a leaf of the root"))
	d.jsonLeaf = put(1, cid.Raw, []byte("a leaf of the dag-json node"))
	// Keys of one length: dag-cbor's length-first order and dag-json's
	// lexical order agree, so the expected link order is plain to see.
	d.jsonNode = put(1, cid.DagJSON, encode(t, jsonEnc, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "aa", link(d.leaf))
		qp.MapEntry(ma, "id", link(d.identity))
		qp.MapEntry(ma, "zz", link(d.jsonLeaf))
	}))
	d.root = put(1, cid.DagCBOR, encode(t, cborEnc, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "file", link(d.file))
		qp.MapEntry(ma, "leaf", link(d.leaf))
		qp.MapEntry(ma, "list", qp.List(-1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Int(1))
			qp.ListEntry(la, link(d.jsonNode))
			qp.ListEntry(la, qp.String("x"))
		}))
		qp.MapEntry(ma, "self", link(d.identity))
	}))
	return d
}

func TestVerifyAcceptsEveryCodecAndHashAndRefusesAFlippedByte(t *testing.T) {
	jsonBlock := []byte(`{"hello": [1, 2.5, {"/": "not a link in plain json"}]}`)
	// Plain cbor may use what dag-cbor forbids: a tag other than 42 and
	// indefinite lengths.
	cborBlock := []byte{0xbf, 0x61, 't', 0xc1, 0x1a, 0x5f, 0, 0, 0, 0x61, 'l', 0x9f, 1, 0xff, 0xff}
	for _, hash := range []uint64{mh.SHA2_256, mh.SHA2_512} {
		d := buildMixedDAG(t, hash)
		blocks := map[string]cid.Cid{
			"dag-cbor": d.root, "dag-pb v0": d.file, "raw": d.leaf, "dag-json": d.jsonNode,
		}
		blocks["json"] = mkCID(t, 1, CodecJSON, hash, jsonBlock)
		d.blocks[blocks["json"]] = jsonBlock
		blocks["cbor"] = mkCID(t, 1, CodecCBOR, hash, cborBlock)
		d.blocks[blocks["cbor"]] = cborBlock
		for name, c := range blocks {
			data := d.blocks[c]
			if err := Verify(c, data); err != nil {
				t.Errorf("%s %s: Verify = %v", mh.Codes[hash], name, err)
			}
			flipped := bytes.Clone(data)
			flipped[len(flipped)/2] ^= 1
			if err := Verify(c, flipped); !errors.Is(err, ErrHashMismatch) {
				t.Errorf("%s %s flipped: Verify = %v, want ErrHashMismatch", mh.Codes[hash], name, err)
			}
		}
	}
}

func TestVerifyRefusesBadBlocks(t *testing.T) {
	tests := []struct {
		name  string
		codec uint64
		data  []byte
		want  error
	}{
		{"dag-cbor truncated", cid.DagCBOR, []byte{0xa1, 0x61, 'a'}, ErrBadNode},
		{"dag-cbor trailing bytes", cid.DagCBOR, []byte{0x01, 0x02}, ErrBadNode},
		{"dag-cbor indefinite length", cid.DagCBOR, []byte{0x9f, 0x01, 0xff}, ErrBadNode},
		// go-ipld-prime checks tags only on byte strings (as kubo does).
		{"dag-cbor bytes tagged 1", cid.DagCBOR, []byte{0xc1, 0x41, 0x00}, ErrBadNode},
		{"dag-cbor link not a CID", cid.DagCBOR, []byte{0xd8, 0x2a, 0x42, 0x00, 0x01}, ErrBadNode},
		{"dag-json unterminated", cid.DagJSON, []byte(`{"a":`), ErrBadNode},
		{"dag-json bad link", cid.DagJSON, []byte(`{"/":"not a cid"}`), ErrBadNode},
		{"json trailing garbage", CodecJSON, []byte(`{} x`), ErrBadNode},
		{"cbor reserved byte", CodecCBOR, []byte{0x1c}, ErrBadNode},
		{"dag-pb garbage", cid.DagProtobuf, []byte{0xff, 0xff}, ErrBadNode},
		{"unknown codec (git-raw)", 0x78, []byte("x"), ErrUnsupportedCodec},
		{"too large", cid.Raw, make([]byte, MaxBlockSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mkCID(t, 1, tt.codec, mh.SHA2_256, tt.data)
			if err := Verify(c, tt.data); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	// A hash cairn does not know, and a truncated sha2-256.
	for _, m := range []mh.Multihash{
		must(mh.Encode(make([]byte, 32), mh.SHA3_256)),
		must(mh.Encode(make([]byte, 20), mh.SHA2_256)),
	} {
		if err := Verify(cid.NewCidV1(cid.Raw, m), []byte("x")); !errors.Is(err, ErrUnsupportedHash) {
			t.Errorf("Verify with %x = %v, want ErrUnsupportedHash", []byte(m[:2]), err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLinksInOrder(t *testing.T) {
	d := buildMixedDAG(t, mh.SHA2_256)
	// A dag-json block written by hand with its keys out of order: Links
	// follows the encoding, not a sorted view of it.
	unsorted := []byte(`{"z":{"/":"` + d.leaf.String() + `"},"a":[{"/":"` + d.jsonLeaf.String() + `"}]}`)
	tests := []struct {
		name string
		c    cid.Cid
		data []byte
		want []cid.Cid
	}{
		{"dag-cbor", d.root, d.blocks[d.root], []cid.Cid{d.file, d.leaf, d.jsonNode, d.identity}},
		{"dag-json", d.jsonNode, d.blocks[d.jsonNode], []cid.Cid{d.leaf, d.identity, d.jsonLeaf}},
		{"dag-json unsorted", mkCID(t, 1, cid.DagJSON, mh.SHA2_256, unsorted), unsorted, []cid.Cid{d.leaf, d.jsonLeaf}},
		{"dag-pb", d.file, d.blocks[d.file], []cid.Cid{d.fileLeaf}},
		{"raw", d.leaf, d.blocks[d.leaf], nil},
		{"json", mkCID(t, 1, CodecJSON, mh.SHA2_256, unsorted), unsorted, nil},
		{"cbor", mkCID(t, 1, CodecCBOR, mh.SHA2_256, d.blocks[d.root]), d.blocks[d.root], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Links(tt.c, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Links = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := Links(d.root, []byte{0xa1}); !errors.Is(err, ErrBadNode) {
		t.Errorf("Links of truncated dag-cbor = %v, want ErrBadNode", err)
	}
}

// countGets counts the blocks a walk fetches.
type countGets struct {
	mapGetter
	got []cid.Cid
}

func (g *countGets) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	g.got = append(g.got, c)
	return g.mapGetter.Get(ctx, c)
}

func TestWalkMixedDAGVisitsEachBlockOnceParentsFirst(t *testing.T) {
	for _, hash := range []uint64{mh.SHA2_256, mh.SHA2_512} {
		d := buildMixedDAG(t, hash)
		want := []cid.Cid{d.root, d.file, d.fileLeaf, d.leaf, d.jsonNode, d.jsonLeaf}

		var visited []cid.Cid
		err := Walk(context.Background(), d.blocks, d.root, func(c cid.Cid, data []byte) error {
			if err := Verify(c, data); err != nil {
				t.Errorf("Walk gave %s bytes that do not verify: %v", c, err)
			}
			visited = append(visited, c)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: Walk: %v", mh.Codes[hash], err)
		}
		if !slices.Equal(visited, want) {
			t.Errorf("%s: Walk visited %v, want %v", mh.Codes[hash], visited, want)
		}

		g := &countGets{mapGetter: d.blocks}
		visited = nil
		err = WalkCIDs(context.Background(), g, d.root, func(c cid.Cid) error {
			visited = append(visited, c)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: WalkCIDs: %v", mh.Codes[hash], err)
		}
		if !slices.Equal(visited, want) {
			t.Errorf("%s: WalkCIDs visited %v, want %v", mh.Codes[hash], visited, want)
		}
		if wantGets := []cid.Cid{d.root, d.file, d.jsonNode}; !slices.Equal(g.got, wantGets) {
			t.Errorf("%s: WalkCIDs fetched %v, want only the nodes that link %v", mh.Codes[hash], g.got, wantGets)
		}
	}
}

func TestWalkFollowsLinksOfAnIdentityNode(t *testing.T) {
	d := buildMixedDAG(t, mh.SHA2_256)
	inline := encode(t, cborEnc, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "l", link(d.leaf)) })
	root := mkCID(t, 1, cid.DagCBOR, mh.IDENTITY, inline)
	var visited []cid.Cid
	err := Walk(context.Background(), d.blocks, root, func(c cid.Cid, _ []byte) error {
		visited = append(visited, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(visited, []cid.Cid{d.leaf}) {
		t.Errorf("Walk visited %v, want only the leaf the identity node links", visited)
	}
}

func TestIdentityCID(t *testing.T) {
	data := []byte("tiny")
	c := mkCID(t, 1, cid.Raw, mh.IDENTITY, data)
	if !IsIdentity(c) {
		t.Error("IsIdentity = false")
	}
	got, ok := IdentityData(c)
	if !ok || !bytes.Equal(got, data) {
		t.Errorf("IdentityData = %q, %v", got, ok)
	}
	if err := Verify(c, got); err != nil {
		t.Errorf("Verify of its own bytes = %v", err)
	}
	if err := Verify(c, []byte("tinY")); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("Verify of other bytes = %v, want ErrHashMismatch", err)
	}
	st, err := StatDAG(context.Background(), mapGetter{}, c)
	if err != nil || st.Size != 4 || st.RootType != "raw" {
		t.Errorf("StatDAG = %+v, %v: want a raw block of 4 bytes, fetched from nowhere", st, err)
	}
	plain := mkCID(t, 1, cid.Raw, mh.SHA2_256, data)
	if _, ok := IdentityData(plain); ok || IsIdentity(plain) || IsIdentity(cid.Undef) {
		t.Error("a sha2-256 CID (or Undef) taken for an identity CID")
	}
}

func TestStatDAGOfOtherCodecs(t *testing.T) {
	d := buildMixedDAG(t, mh.SHA2_256)
	js := []byte(`[1, 2]`)
	jc := mkCID(t, 1, CodecJSON, mh.SHA2_256, js)
	d.blocks[jc] = js
	tests := []struct {
		c     cid.Cid
		typ   string
		links int
	}{
		{d.root, "dag-cbor", 4},
		{d.jsonNode, "dag-json", 3},
		{jc, "json", 0},
	}
	for _, tt := range tests {
		st, err := StatDAG(context.Background(), d.blocks, tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		n := uint64(len(d.blocks[tt.c]))
		if st.RootType != tt.typ || st.Size != n || st.Cumulative != n || st.Links != tt.links {
			t.Errorf("StatDAG = %+v, want %s of %d bytes with %d links", st, tt.typ, n, tt.links)
		}
	}
}

func TestParseCIDTakesV0AndV1(t *testing.T) {
	d := buildMixedDAG(t, mh.SHA2_256)
	for _, c := range []cid.Cid{d.file, d.root} {
		s := c.String()
		got, err := ParseCID(" " + s + "\n")
		if err != nil || !got.Equals(c) {
			t.Errorf("ParseCID(%s) = %v, %v", s, got, err)
		}
	}
	if d.file.Version() != 0 || d.file.String()[:2] != "Qm" {
		t.Errorf("%s is not a CIDv0", d.file)
	}
}
