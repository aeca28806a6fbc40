package chunk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// Codecs cairn stores besides raw (cid.Raw), dag-pb (cid.DagProtobuf),
// dag-cbor (cid.DagCBOR) and dag-json (cid.DagJSON), which go-cid names.
// Plain json and cbor blocks cannot link: a CID in them is just data.
const (
	CodecJSON = 0x0200
	CodecCBOR = 0x51
)

// knownCodec reports whether cairn stores blocks of codec: the ones the
// IPFS gateway conformance fixtures use.
func knownCodec(codec uint64) bool {
	switch codec {
	case cid.Raw, cid.DagProtobuf, cid.DagCBOR, cid.DagJSON, CodecJSON, CodecCBOR:
		return true
	}
	return false
}

// codecName is StatDAG's RootType for blocks that are not UnixFS.
func codecName(codec uint64) string {
	switch codec {
	case cid.Raw:
		return "raw"
	case cid.DagProtobuf:
		return "dag-pb"
	case cid.DagCBOR:
		return "dag-cbor"
	case cid.DagJSON:
		return "dag-json"
	case CodecJSON:
		return "json"
	case CodecCBOR:
		return "cbor"
	}
	return fmt.Sprintf("codec-0x%x", codec)
}

// HasLinks reports whether blocks of c's codec can link to others (dag-pb,
// dag-cbor, dag-json): walkers read only those.
func HasLinks(c cid.Cid) bool {
	switch c.Type() {
	case cid.DagProtobuf, cid.DagCBOR, cid.DagJSON:
		return true
	}
	return false
}

// Links returns the CIDs block data (named c) links to, in order: a
// dag-pb node's links; every CID anywhere in a dag-cbor or dag-json
// block's data model (depth-first, in map key order as encoded); none for
// raw, json, cbor. Identity CIDs among them are kept (callers skip them
// with IsIdentity). Malformed data gives an error wrapping ErrBadNode.
func Links(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case cid.Raw, CodecJSON, CodecCBOR:
		return nil, nil
	case cid.DagProtobuf:
		n, err := DecodeNode(data)
		if err != nil {
			return nil, err
		}
		out := make([]cid.Cid, len(n.Links))
		for i, l := range n.Links {
			out[i] = l.CID
		}
		return out, nil
	case cid.DagCBOR, cid.DagJSON:
		n, err := decodeIPLD(c.Type(), data)
		if err != nil {
			return nil, err
		}
		var out []cid.Cid
		if err := collectLinks(n, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w 0x%x", ErrUnsupportedCodec, c.Type())
}

// checkCodec reports whether data decodes as c's codec. dag-pb must be a
// UnixFS node cairn can read; dag-cbor and dag-json must decode strictly
// as go-ipld-prime does (what kubo would accept); json and cbor need only
// be well-formed, as their codecs carry no IPLD rules.
func checkCodec(c cid.Cid, data []byte) error {
	switch c.Type() {
	case cid.Raw:
		return nil
	case cid.DagProtobuf:
		_, err := DecodeNode(data)
		return err
	case cid.DagCBOR, cid.DagJSON:
		_, err := decodeIPLD(c.Type(), data)
		return err
	case CodecJSON:
		if !json.Valid(data) {
			return fmt.Errorf("%w: not valid JSON", ErrBadNode)
		}
		return nil
	case CodecCBOR:
		return checkCBOR(data)
	}
	return fmt.Errorf("%w 0x%x", ErrUnsupportedCodec, c.Type())
}

// decodeIPLD decodes a dag-cbor or dag-json block into a basicnode tree.
// The decoders are third-party parsers fed bytes from strangers, so a
// panic in them is caught and reported as a bad node rather than taking
// the whole process down.
func decodeIPLD(codec uint64, data []byte) (n datamodel.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("%w: %s decoder panicked: %v", ErrBadNode, codecName(codec), r)
		}
	}()
	nb := basicnode.Prototype.Any.NewBuilder()
	switch codec {
	case cid.DagCBOR:
		err = dagcbor.DecodeOptions{AllowLinks: true}.Decode(nb, bytes.NewReader(data))
	case cid.DagJSON:
		err = dagjson.DecodeOptions{ParseLinks: true, ParseBytes: true}.Decode(nb, bytes.NewReader(data))
	default:
		return nil, fmt.Errorf("%w 0x%x", ErrUnsupportedCodec, codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadNode, codecName(codec), err)
	}
	return nb.Build(), nil
}

// collectLinks appends every link in n, depth-first, maps in their
// iteration order (basicnode keeps the order the block encodes). The
// decoder bounds the nesting depth, so the recursion is bounded too.
func collectLinks(n datamodel.Node, out *[]cid.Cid) error {
	switch n.Kind() {
	case datamodel.Kind_Link:
		l, err := n.AsLink()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadNode, err)
		}
		cl, ok := l.(cidlink.Link)
		if !ok {
			return fmt.Errorf("%w: link of type %T", ErrBadNode, l)
		}
		*out = append(*out, cl.Cid)
	case datamodel.Kind_Map:
		it := n.MapIterator()
		for !it.Done() {
			_, v, err := it.Next()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadNode, err)
			}
			if err := collectLinks(v, out); err != nil {
				return err
			}
		}
	case datamodel.Kind_List:
		it := n.ListIterator()
		for !it.Done() {
			_, v, err := it.Next()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadNode, err)
			}
			if err := collectLinks(v, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// getBlock fetches c's bytes, answering identity CIDs from the CID itself:
// they are never stored, so asking a store or a peer for them would fail.
func getBlock(ctx context.Context, get BlockGetter, c cid.Cid) ([]byte, error) {
	if d, ok := IdentityData(c); ok {
		return d, nil
	}
	return get.Get(ctx, c)
}
