package pinset

import (
	"context"
	"errors"
	"fmt"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pb "github.com/ipfs/go-ds-crdt/pb"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
)

// Blocks keeps the set's delta blocks, apart from user content.
type Blocks interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Has(c cid.Cid) (bool, error)
	// Put stores a block durably.
	Put(c cid.Cid, data []byte) error
}

// Limits on a delta block: the set has go-ds-crdt cut deltas at half of
// MaxDelta (MaxBatchDeltaSize), and a delta links only the heads before it.
const (
	MaxDelta      = 1 << 20
	maxDeltaLinks = 256
)

// ErrBadDelta marks a delta block that is not one this package would
// have written: it is refused, so its branch never merges.
var ErrBadDelta = errors.New("pinset: bad delta")

// dagService is go-ds-crdt's view of the delta blocks: what is held in
// Blocks, and what is not fetched through the caller's Fetch, checked,
// and kept.
type dagService struct {
	blocks Blocks
	fetch  func(ctx context.Context, c cid.Cid) ([]byte, error)
}

var _ ipld.DAGService = (*dagService)(nil)

func (d *dagService) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	data, err := d.blocks.Get(ctx, c)
	if err != nil {
		ok, herr := d.blocks.Has(c)
		if herr == nil && ok {
			return nil, fmt.Errorf("pinset: read delta %s: %w", c, err)
		}
		if d.fetch == nil {
			return nil, ipld.ErrNotFound{Cid: c}
		}
		if data, err = d.fetch(ctx, c); err != nil {
			return nil, fmt.Errorf("pinset: fetch delta %s: %w", c, err)
		}
		nd, err := decodeDelta(c, data)
		if err != nil {
			return nil, err
		}
		if err := d.blocks.Put(c, data); err != nil {
			return nil, fmt.Errorf("pinset: keep delta %s: %w", c, err)
		}
		return nd, nil
	}
	return decodeDelta(c, data)
}

func (d *dagService) GetMany(ctx context.Context, cids []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cids))
	go func() {
		defer close(out)
		for _, c := range cids {
			nd, err := d.Get(ctx, c)
			select {
			case out <- &ipld.NodeOption{Node: nd, Err: err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (d *dagService) Add(_ context.Context, nd ipld.Node) error {
	return d.blocks.Put(nd.Cid(), nd.RawData())
}

func (d *dagService) AddMany(ctx context.Context, nds []ipld.Node) error {
	for _, nd := range nds {
		if err := d.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

// Deltas are never removed: the set's history is what a node that was
// away merges from.
func (d *dagService) Remove(context.Context, cid.Cid) error       { return nil }
func (d *dagService) RemoveMany(context.Context, []cid.Cid) error { return nil }

// checkDeltaCID accepts only what go-ds-crdt makes: CIDv1 dag-pb blocks
// hashed with SHA-256.
func checkDeltaCID(c cid.Cid) error {
	p := c.Prefix()
	if p.Version != 1 || p.Codec != cid.DagProtobuf || p.MhType != mh.SHA2_256 {
		return fmt.Errorf("%w: %s is not a CIDv1 dag-pb SHA-256 block", ErrBadDelta, c)
	}
	return nil
}

// decodeDelta parses a delta block and checks every element in it, so
// that a peer's made-up entry is refused before it can merge.
func decodeDelta(c cid.Cid, data []byte) (ipld.Node, error) {
	if err := checkDeltaCID(c); err != nil {
		return nil, err
	}
	if len(data) > MaxDelta {
		return nil, fmt.Errorf("%w: %s is %d bytes (at most %d)", ErrBadDelta, c, len(data), MaxDelta)
	}
	blk, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDelta, c, err)
	}
	nd, err := dag.DecodeProtobufBlock(blk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDelta, c, err)
	}
	pn, ok := nd.(*dag.ProtoNode)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a protobuf node", ErrBadDelta, c)
	}
	if len(pn.Links()) > maxDeltaLinks {
		return nil, fmt.Errorf("%w: %s links %d heads", ErrBadDelta, c, len(pn.Links()))
	}
	for _, l := range pn.Links() {
		if err := checkDeltaCID(l.Cid); err != nil {
			return nil, err
		}
	}
	var delta pb.Delta
	if err := proto.Unmarshal(pn.Data(), &delta); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDelta, c, err)
	}
	for _, e := range delta.Elements {
		if _, err := decodePin(e.Key, e.Value); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadDelta, c, err)
		}
	}
	for _, e := range delta.Tombstones {
		if _, err := parseKey(e.Key, true); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadDelta, c, err)
		}
	}
	return pn, nil
}

// decodeHeads parses a heads announcement, refusing one that is not
// what a cluster node sends.
func decodeHeads(data []byte) ([]cid.Cid, error) {
	if len(data) > maxAnnounce {
		return nil, fmt.Errorf("%w: announcement of %d bytes", ErrBadDelta, len(data))
	}
	var b pb.CRDTBroadcast
	if err := proto.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: announcement: %v", ErrBadDelta, err)
	}
	if len(b.ProtoReflect().GetUnknown()) > 0 || len(b.Heads) == 0 || len(b.Heads) > maxDeltaLinks {
		return nil, fmt.Errorf("%w: announcement of %d heads", ErrBadDelta, len(b.Heads))
	}
	out := make([]cid.Cid, len(b.Heads))
	for i, h := range b.Heads {
		c, err := cid.Cast(h.Cid)
		if err != nil {
			return nil, fmt.Errorf("%w: announcement: %v", ErrBadDelta, err)
		}
		if err := checkDeltaCID(c); err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func encodeHeads(heads []cid.Cid) ([]byte, error) {
	var b pb.CRDTBroadcast
	for _, c := range heads {
		b.Heads = append(b.Heads, &pb.Head{Cid: c.Bytes()})
	}
	return proto.Marshal(&b)
}

const maxAnnounce = 64 << 10
