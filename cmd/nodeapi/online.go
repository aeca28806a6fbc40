package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Online serves a running node: reads fetch what is missing and mend
// rotted blocks from replicas, adds replicate, and the network
// operations work.
type Online struct{ N *node.Node }

var _ gateway.Backend = (*Online)(nil)

func (o *Online) fetchOpts(ro gateway.ReadOptions) node.FetchOptions {
	return node.FetchOptions{StallTimeout: ro.StallTimeout}
}

// Has implements gateway.Backend.
func (o *Online) Has(c cid.Cid) bool { return o.N.Has(c) }

// Open implements gateway.Backend: bytes go out as their blocks arrive.
func (o *Online) Open(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) (gateway.File, error) {
	s, err := o.N.Stream(ctx, c, o.fetchOpts(ro))
	if err != nil {
		return nil, fetchError(err)
	}
	return s, nil
}

// Block implements gateway.Backend.
func (o *Online) Block(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) ([]byte, error) {
	data, err := o.N.Block(ctx, c, o.fetchOpts(ro))
	return data, fetchError(err)
}

// Walk implements gateway.Backend.
func (o *Online) Walk(ctx context.Context, c cid.Cid, ro gateway.ReadOptions, fn func(cid.Cid, []byte) error) error {
	return fetchError(o.N.Walk(ctx, c, o.fetchOpts(ro), fn))
}

// Stat implements gateway.Backend: Replicas fetches what is missing and
// lists every distinct block once, which is the block count too.
func (o *Online) Stat(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) (gateway.StatResponse, error) {
	reps, err := o.N.Replicas(ctx, c, o.fetchOpts(ro))
	if err != nil {
		return gateway.StatResponse{}, fetchError(err)
	}
	st, err := o.N.Inspect(ctx, c, o.fetchOpts(ro))
	if err != nil {
		return gateway.StatResponse{}, fetchError(err)
	}
	out := statResponse(c, st, len(reps))
	out.MinLive, out.Factor = node.MinLive(reps), o.N.Factor()
	return out, nil
}

// Resolve implements gateway.Backend.
func (o *Online) Resolve(ctx context.Context, c cid.Cid, path string, ro gateway.ReadOptions) (cid.Cid, error) {
	r, err := o.N.Resolve(ctx, c, path, o.fetchOpts(ro))
	return r, fetchError(err)
}

// Describe implements gateway.Backend.
func (o *Online) Describe(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) (gateway.DirEntry, error) {
	st, err := o.N.Inspect(ctx, c, o.fetchOpts(ro))
	if err != nil {
		return gateway.DirEntry{}, fetchError(err)
	}
	return describe(st), nil
}

// List implements gateway.Backend.
func (o *Online) List(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) ([]gateway.DirEntry, error) {
	out, err := list(ctx, c, ro.Describe, func(fn func(chunk.DirEntry) error) error { return o.N.List(ctx, c, o.fetchOpts(ro), fn) },
		func(ctx context.Context, c cid.Cid) (chunk.Stat, error) { return o.N.Inspect(ctx, c, o.fetchOpts(ro)) })
	return out, fetchError(err)
}

// Replicas implements gateway.Backend.
func (o *Online) Replicas(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) (gateway.ReplicasResponse, error) {
	reps, err := o.N.Replicas(ctx, c, o.fetchOpts(ro))
	if err != nil {
		return gateway.ReplicasResponse{}, fetchError(err)
	}
	out := gateway.ReplicasResponse{MinLive: node.MinLive(reps), Chunks: []gateway.ChunkReplicas{}}
	for _, cr := range reps {
		hs := make([]string, len(cr.Holders))
		for j, h := range cr.Holders {
			hs[j] = h.String()
		}
		out.Chunks = append(out.Chunks, gateway.ChunkReplicas{CID: cr.CID.String(), Live: cr.Live, Holders: hs})
	}
	return out, nil
}

// Add implements gateway.Backend.
func (o *Online) Add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	res, err := o.N.Add(ctx, r, opts)
	if err != nil {
		return gateway.AddResponse{}, storeError(err)
	}
	return addResponse(res.AddResult, res.Copies, o.N.WriteQuorum()), nil
}

// AddTree implements gateway.Backend.
func (o *Online) AddTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (gateway.AddResponse, error) {
	res, err := o.N.AddTree(ctx, tr, opts)
	if err != nil {
		return gateway.AddResponse{}, storeError(err)
	}
	return treeResponse(res.DirResult, res.Copies, o.N.WriteQuorum()), nil
}

// ImportCAR implements gateway.Backend.
func (o *Online) ImportCAR(ctx context.Context, r io.Reader, pinRoots bool) (gateway.ImportResponse, error) {
	res, err := o.N.ImportCAR(ctx, r, pinRoots)
	return importResponse(res), importError(err)
}

// Pin implements gateway.Backend: what is missing is fetched first, then
// the root goes in the cluster's set.
func (o *Online) Pin(ctx context.Context, c cid.Cid, req gateway.PinRequest, ro gateway.ReadOptions) (gateway.PinResult, error) {
	held, err := o.N.PinCluster(ctx, c, node.PinOptions{Name: req.Name, Replicas: req.Replicas, Fetch: o.fetchOpts(ro)})
	if err != nil {
		return gateway.PinResult{}, pinError(fetchError(err))
	}
	return gateway.PinResult{Copies: held}, nil
}

// Unpin implements gateway.Backend: network-wide.
func (o *Online) Unpin(ctx context.Context, c cid.Cid) error {
	return pinError(o.N.UnpinCluster(ctx, c))
}

// Pins implements gateway.Backend: the cluster's set in its own order
// (its keys', the CIDs).
func (o *Online) Pins(ctx context.Context, fn func(gateway.PinInfo) error) error {
	names := map[peer.ID]string{}
	err := o.N.ClusterPins(ctx, func(p node.ClusterPin) error { return fn(pinInfo(p, names)) })
	if err != nil {
		return fmt.Errorf("list the cluster's pins: %w", err)
	}
	return nil
}

// ClusterStatus implements gateway.Backend: the nodes as this one last
// heard of them, and the set's totals summed over its entries.
func (o *Online) ClusterStatus(ctx context.Context) (gateway.ClusterStatus, error) {
	out := gateway.ClusterStatus{Nodes: []gateway.NodeStatus{}}
	for _, ns := range o.N.ClusterStatus() {
		out.Nodes = append(out.Nodes, gateway.NodeStatus{ID: ns.ID.String(), State: ns.State,
			Used: ns.Used, Capacity: ns.Capacity, Blocks: ns.Blocks,
			UnderReplicated: ns.UnderReplicated, Repairing: ns.Repairing, LastSeen: ns.LastSeen})
	}
	t, err := o.N.ClusterPinTotals(ctx)
	if err != nil {
		return gateway.ClusterStatus{}, fmt.Errorf("sum the cluster's pins: %w", err)
	}
	out.Pins.Count, out.Pins.Bytes = t.Pins, t.Bytes
	return out, nil
}

// PinStatus implements gateway.Backend: the entry first, so that a CID
// not in the set is a 404 and is not fetched for nothing.
func (o *Online) PinStatus(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) (gateway.PinStatus, error) {
	p, err := o.N.ClusterPinOf(ctx, c)
	if err != nil {
		return gateway.PinStatus{}, pinError(err)
	}
	reps, err := o.Replicas(ctx, c, ro)
	if err != nil {
		return gateway.PinStatus{}, fmt.Errorf("copies of %s: %w", c, err)
	}
	// The cluster's R, whatever the entry asks: placement keeps every
	// chunk at R (PinCluster refuses other counts; an entry from an older
	// node may still carry one).
	return gateway.PinStatus{Pin: pinInfo(p, nil), Factor: o.N.Factor(), MinLive: reps.MinLive, Chunks: reps.Chunks}, nil
}

// pinInfo is a pin as the API gives it. names holds the pinners' IDs as
// text so far (nil for one pin): a listing meets the same few nodes over
// and over, and encoding an ID (base58) costs more than the rest.
func pinInfo(p node.ClusterPin, names map[peer.ID]string) gateway.PinInfo {
	info := gateway.PinInfo{CID: p.Root.String(), Name: p.Name, Replicas: p.Replicas, At: p.At.UTC(), Bytes: p.Bytes}
	if p.By != "" {
		var ok bool
		if info.By, ok = names[p.By]; !ok {
			info.By = p.By.String()
			if names != nil {
				names[p.By] = info.By
			}
		}
	}
	return info
}

// pinError marks the pin set's refusals with the gateway's sentinels.
func pinError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, node.ErrNotPinned), errors.Is(err, pinset.ErrNotPinned):
		return mark(err, gateway.ErrNotPinned)
	case errors.Is(err, pinset.ErrInvalid):
		return mark(err, gateway.ErrInvalid)
	}
	return err
}

// RepoStat implements gateway.Backend.
func (o *Online) RepoStat(context.Context) (gateway.RepoStatResponse, error) {
	return repoStat(o.N.Stats()), nil
}

// Verify implements gateway.Backend.
func (o *Online) Verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error) {
	return verify(ctx, o.N.Local, progress)
}

// GC implements gateway.Backend.
func (o *Online) GC(ctx context.Context) (gateway.GCResponse, error) { return gc(ctx, o.N.Local) }

// Drain implements gateway.Backend.
func (o *Online) Drain(ctx context.Context) (gateway.DrainResponse, error) {
	st, err := o.N.Drain(ctx)
	return gateway.DrainResponse{Chunks: st.Chunks, Pushed: st.Pushed}, err
}

// Identity implements gateway.Backend.
func (o *Online) Identity() gateway.IDResponse {
	out := gateway.IDResponse{ID: o.N.ID().String(), Addresses: []string{}}
	for _, a := range o.N.Addrs() {
		out.Addresses = append(out.Addresses, a.String())
	}
	return out
}

// Peers implements gateway.Backend: one entry per connection.
func (o *Online) Peers() []gateway.PeerInfo {
	out := []gateway.PeerInfo{}
	for _, c := range o.N.Host().Network().Conns() {
		out = append(out, gateway.PeerInfo{ID: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String()})
	}
	return out
}

// ParseDialAddr reads a peer's multiaddr from a client, which must end in
// /p2p/PEERID. Errors wrap gateway.ErrInvalid.
func ParseDialAddr(addr string) (ma.Multiaddr, *peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return nil, nil, mark(fmt.Errorf("invalid multiaddr %q: %w", addr, err), gateway.ErrInvalid)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, nil, mark(fmt.Errorf("%s: %w (the address must end in /p2p/PEERID)", a, err), gateway.ErrInvalid)
	}
	return a, ai, nil
}

// Connect implements gateway.Backend.
func (o *Online) Connect(ctx context.Context, addr string) (gateway.PeerInfo, error) {
	a, ai, err := ParseDialAddr(addr)
	if err != nil {
		return gateway.PeerInfo{}, err
	}
	if err := o.N.Connect(ctx, *ai); err != nil {
		return gateway.PeerInfo{}, err
	}
	return gateway.PeerInfo{ID: ai.ID.String(), Addr: a.String()}, nil
}

// Providers implements gateway.Backend.
func (o *Online) Providers(ctx context.Context, c cid.Cid, max int) (gateway.ProvidersResponse, error) {
	provs, st, err := o.N.FindProviders(ctx, c, max)
	if err != nil {
		return gateway.ProvidersResponse{}, fetchError(err)
	}
	out := gateway.ProvidersResponse{Providers: []gateway.PeerInfo{}, RPCs: st.RPCs, Hops: st.Hops}
	for _, p := range provs {
		info := gateway.PeerInfo{ID: p.ID.String()}
		if len(p.Addrs) > 0 {
			info.Addr = p.Addrs[0].String()
		}
		out.Providers = append(out.Providers, info)
	}
	return out, nil
}

// Metrics implements gateway.Backend.
func (o *Online) Metrics() gateway.Metrics {
	st, rs, dt := o.N.Stats(), o.N.RepairStats(), o.N.DHT().Totals()
	batches, batched := o.N.PushBatches()
	return gateway.Metrics{
		StoreBlocks: st.Blocks, StoreBytes: st.Bytes, StoreGarbage: st.Garbage,
		Peers:       len(o.N.Peers()),
		RepairWalks: rs.Walks, RepairPushes: rs.Pushes, ReplicationBytes: rs.BytesPushed,
		UnderReplicated: rs.UnderReplicated, RepairQueue: rs.Queue,
		ScrubErrors: o.N.ScrubErrors(), PassedThrough: o.N.PassedThrough(),
		PushBatches: batches, BatchedPushes: batched,
		DHTLookups: int64(dt.Lookups), DHTRPCs: int64(dt.RPCs), DHTHops: int64(dt.Hops),
	}
}

// fetchError marks the node's fetch failures with the gateway's
// sentinels, keeping their messages.
func fetchError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, node.ErrNoProvider):
		return mark(err, gateway.ErrNoProvider)
	case errors.Is(err, node.ErrStalled):
		return mark(err, gateway.ErrStalled)
	}
	return storeError(err)
}

// marked is err, also matching sentinel in errors.Is, with err's message.
type marked struct{ err, sentinel error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.sentinel} }

func mark(err, sentinel error) error { return &marked{err, sentinel} }
