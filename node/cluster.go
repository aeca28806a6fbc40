package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/cairnstore/cairn/node/ldstore"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/cairnstore/cairn/node/refs"
	"github.com/ipfs/go-cid"
	dsleveldb "github.com/ipfs/go-ds-leveldb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// ClusterConfig configures the node's part in the cluster's pin set.
type ClusterConfig struct {
	// Dir holds the set's replica, the reference index and the set's
	// delta blocks (Open uses the repo's cluster directory).
	Dir string
	// RebroadcastInterval is how often the set's heads are announced
	// again, so a node that was away catches up (default 10s).
	RebroadcastInterval time.Duration
	// UnpinGrace is how long the blocks of an unpinned root are kept
	// before they are freed (default 1h).
	UnpinGrace time.Duration
	// SweepInterval is how often blocks no pin needs are looked for and
	// freed (default 1m).
	SweepInterval time.Duration
	// StatusInterval is how often the node publishes its status; a node
	// silent for 3 intervals is shown as down (default 10s).
	StatusInterval time.Duration
	// Writers, when set, are the only peers whose pins and unpins the
	// node takes; empty means every member of the swarm may write.
	Writers []peer.ID
}

func (cc *ClusterConfig) validate() error {
	if cc.Dir == "" {
		return errors.New("node: no cluster directory")
	}
	if cc.RebroadcastInterval < 0 || cc.UnpinGrace < 0 || cc.SweepInterval < 0 || cc.StatusInterval < 0 {
		return errors.New("node: negative cluster interval or grace")
	}
	if cc.RebroadcastInterval == 0 {
		cc.RebroadcastInterval = 10 * time.Second
	}
	if cc.UnpinGrace == 0 {
		cc.UnpinGrace = time.Hour
	}
	if cc.SweepInterval == 0 {
		cc.SweepInterval = time.Minute
	}
	if cc.StatusInterval == 0 {
		cc.StatusInterval = 10 * time.Second
	}
	return nil
}

// clusterFiles are the cluster directory's stores: the pin set's
// goleveldb (shared with the reference index) and its delta blocks, kept
// apart from user content (not counted, not collected, not pushed).
type clusterFiles struct {
	state  *ldstore.DB
	deltas *store.Store // nil for Local, which never touches the set
	index  *refs.Index
}

func openClusterFiles(dir string, withDeltas bool, logf func(string, ...any)) (*clusterFiles, error) {
	// A small write buffer keeps an idle node's heap small. The pin set
	// asks after keys it has not seen (a new entry's priority, its
	// tombstones) at every add: without a Bloom filter each such lookup
	// read an index block of every table, which was a sixth of the CPU of
	// many small adds (BenchmarkSmallAdds).
	st, err := ldstore.Open(filepath.Join(dir, "state"), &dsleveldb.Options{
		WriteBuffer: 1 << 20, BlockCacheCapacity: 8 << 20, Filter: filter.NewBloomFilter(10),
		Compression: opt.NoCompression,
	}, logf)
	if err != nil {
		return nil, fmt.Errorf("node: open cluster state: %w", err)
	}
	cf := &clusterFiles{state: st, index: refs.New(st)}
	if withDeltas {
		cf.deltas, err = store.Open(filepath.Join(dir, "deltas"), store.Options{SegmentSize: 8 << 20, Logf: logf})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("node: open cluster deltas: %w", err)
		}
	}
	return cf, nil
}

func (cf *clusterFiles) close() error {
	var err error
	if cf.deltas != nil {
		err = cf.deltas.Close()
	}
	return errors.Join(err, cf.state.Close())
}

// openSet joins the cluster's pin set and its status topic.
func (n *Node) openSet(cf *clusterFiles) error {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host)
	if err != nil {
		return fmt.Errorf("node: pubsub: %w", err)
	}
	n.ps = ps
	n.pins, err = pinset.New(pinset.Config{
		Host: n.host, PubSub: ps, Datastore: cf.state.Datastore(), Blocks: deltaBlocks{cf.deltas}, Fetch: n.fetchDelta,
		RebroadcastInterval: n.cfg.Cluster.RebroadcastInterval, Writers: n.cfg.Cluster.Writers,
		OnChange: n.indexSoon, Logf: n.cfg.Logf,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.pinGroup = &group[pinset.Pin]{commit: func(pins []pinset.Pin) error { return n.pins.AddMany(n.ctx, pins) }}
	n.status, err = newInformer(n)
	if err != nil {
		n.pins.Close()
		return err
	}
	return nil
}

// deltaBlocks is pinset.Blocks over the delta store: every delta is
// synced before the set builds on it.
type deltaBlocks struct{ s *store.Store }

func (d deltaBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) { return d.s.Get(ctx, c) }
func (d deltaBlocks) Has(c cid.Cid) (bool, error)                        { return d.s.Has(c) }
func (d deltaBlocks) Put(c cid.Cid, data []byte) error {
	// Deltas are dag-pb but not UnixFS: the store's Put would refuse
	// them, so the hash is checked here (pinset has checked the rest).
	if err := chunk.CheckHash(c.Hash(), data); err != nil {
		return fmt.Errorf("delta %s: %w", c, err)
	}
	if err := d.s.PutHashed(c, data); err != nil {
		return err
	}
	return d.s.Sync()
}

// verifyDelta is the exchange check for a fetched delta: its size and
// hash (pinset then checks what it holds before it merges).
func verifyDelta(c cid.Cid, data []byte) error {
	if len(data) > pinset.MaxDelta {
		return fmt.Errorf("delta %s: %w (%d bytes)", c, chunk.ErrTooLarge, len(data))
	}
	return chunk.CheckHash(c.Hash(), data)
}

// served is what the exchange serves: user blocks, then the set's
// deltas (which peers fetch by CID like any block).
type served struct{ user, deltas *store.Store }

func (s served) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	data, back, err := s.user.GetBuffer(ctx, c, buf)
	if errors.Is(err, store.ErrNotFound) && c.Prefix().Codec == cid.DagProtobuf {
		return s.deltas.GetBuffer(ctx, c, buf)
	}
	return data, back, err
}

func (s served) Has(c cid.Cid) (bool, error) {
	ok, err := s.user.Has(c)
	if err != nil || ok || c.Prefix().Codec != cid.DagProtobuf {
		return ok, err
	}
	return s.deltas.Has(c)
}

func (s served) Durable(c cid.Cid) (bool, error) {
	ok, err := s.user.Durable(c)
	if err != nil || ok || c.Prefix().Codec != cid.DagProtobuf {
		return ok, err
	}
	return s.deltas.Durable(c)
}

func (s served) WillNeed(cids []cid.Cid) { s.user.WillNeed(cids) }

// fetchDelta gets a delta block from one of the peers that announce the
// set, tried in random order, checked against its CID by the exchange.
func (n *Node) fetchDelta(ctx context.Context, c cid.Cid, from []peer.ID) ([]byte, error) {
	return n.getFromAny(ctx, n.deltaClient, c, from)
}

// getFromAny asks the given peers for one block, in random order, and
// returns it unstored.
func (n *Node) getFromAny(ctx context.Context, client *exchange.Client, c cid.Cid, from []peer.ID) ([]byte, error) {
	from = append([]peer.ID(nil), from...)
	rand.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	var last error = fmt.Errorf("%s: no peer to ask", c)
	for _, p := range from {
		if p == n.host.ID() || !n.usable(p) {
			continue
		}
		var got []byte
		_, err := client.Want(ctx, p, []cid.Cid{c}, func(_ cid.Cid, data []byte) error {
			got = append([]byte(nil), data...)
			return nil
		})
		if got != nil {
			return got, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("%s: %s does not have it", c, p)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, last
}

// peek reads a block held here or, unstored, from another node: the
// pinner first (it held the whole DAG when it pinned), then the DHT's
// providers, then any member of the set (announcements go out in
// batches, so a block just added may have no provider record yet). It is
// what the indexer reads a DAG's inner nodes with.
func (n *Node) peek(ctx context.Context, c cid.Cid, pinner peer.ID) ([]byte, error) {
	if data, err := n.Local.Block(ctx, c); err == nil {
		return data, nil
	}
	return n.getElsewhere(ctx, c, pinner)
}

// getElsewhere reads a block, unstored, from another node: from, if
// given, then the DHT's providers, then any member of the set.
func (n *Node) getElsewhere(ctx context.Context, c cid.Cid, from peer.ID) ([]byte, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if from != "" {
		if data, err := n.getFromAny(lctx, n.client, c, []peer.ID{from}); err == nil {
			return data, nil
		}
	}
	var ids []peer.ID
	if provs, _, err := n.dht.FindProviders(lctx, c, 8); err == nil {
		for _, ai := range provs {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			ids = append(ids, ai.ID)
		}
	}
	data, err := n.getFromAny(lctx, n.client, c, append(ids, n.pins.Peers()...))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	return data, nil
}

// ClusterPin is a pin of the cluster's set.
type ClusterPin = pinset.Pin

// PinOptions describe a pin made in the cluster's set.
type PinOptions struct {
	Name     string
	Replicas int // 0 or the cluster's R; PinCluster refuses any other
	Fetch    FetchOptions
}

// pinInSet puts pins in the cluster's set, as one batch, and waits until
// W nodes hold every entry (this one included); it returns how many do.
func (n *Node) pinInSet(ctx context.Context, pins ...pinset.Pin) (int, error) {
	now := time.Now().UTC()
	roots := make([]cid.Cid, len(pins))
	for i := range pins {
		if pins[i].At.IsZero() { // publish stamps its pins when the add returns
			pins[i].By, pins[i].At = n.host.ID(), now
		}
		roots[i] = pins[i].Root
	}
	if err := n.pinGroup.do(pins...); err != nil {
		return 0, err
	}
	for _, r := range roots {
		n.indexSoon(r)
	}
	held := math.MaxInt
	for start := 0; start < len(roots); start += pinset.MaxAckRoots {
		held = min(held, n.confirmPins(ctx, roots[start:min(start+pinset.MaxAckRoots, len(roots))]))
	}
	return held, nil
}

// confirmPins asks the live peers closest to the first root to hold the
// entries of roots, until W-1 of them do or none is left to ask; it
// returns the holders counted, this node included. The peers come from
// the placement view, not from gossipsub's view of the topic: a peer
// just connected may not have told its subscriptions yet, and the ack
// hands it the entries directly.
func (n *Node) confirmPins(ctx context.Context, roots []cid.Cid) int {
	need := n.WriteQuorum() - 1
	if need <= 0 {
		return 1
	}
	v := n.rep.placement()
	var order []peer.ID
	for _, p := range v.Closest(roots[0].Hash(), v.Live()) {
		if p != n.host.ID() {
			order = append(order, p)
		}
	}
	held := 1
	for start := 0; start < len(order) && held-1 < need; {
		batch := order[start:min(start+need-(held-1), len(order))]
		start += len(batch)
		errs := make(chan error, len(batch))
		for _, p := range batch {
			go func(p peer.ID) { errs <- n.pins.Confirm(ctx, p, roots...) }(p)
		}
		for range batch {
			if err := <-errs; err == nil {
				held++
			} else {
				n.logf("pin %s: %v", roots[0], err)
			}
		}
	}
	return held
}

// PinCluster fetches what is missing of the DAG under root, pins it here
// until the cluster's set covers it, and puts it in the set; it returns
// how many nodes hold the entry when it does (W, or fewer when there are
// not that many).
//
// A pin asking for other than the cluster's R copies is refused: every
// chunk is kept at R (placement and repair have no per-pin count yet),
// and a count that would be recorded and then ignored is worse than an
// error.
func (n *Node) PinCluster(ctx context.Context, root cid.Cid, opts PinOptions) (int, error) {
	if opts.Replicas != 0 && opts.Replicas != n.Factor() {
		return 0, fmt.Errorf("pin %s: %w: %d replicas asked; every chunk keeps the cluster's Replication.Factor (%d), and per-pin counts are not supported yet",
			root, pinset.ErrInvalid, opts.Replicas, n.Factor())
	}
	if err := n.pin(ctx, root, opts.Name, opts.Fetch); err != nil {
		return 0, err
	}
	size, err := n.pinBytes(ctx, root)
	if err != nil {
		return 0, fmt.Errorf("pin %s: %w", root, err)
	}
	return n.pinInSet(ctx, pinset.Pin{Root: root, Name: opts.Name, Replicas: opts.Replicas, Bytes: size})
}

// UnpinCluster takes root out of the cluster's set, from any node: its
// blocks are freed everywhere once the grace is over. ErrNotPinned if
// neither the set nor this node pins it.
func (n *Node) UnpinCluster(ctx context.Context, root cid.Cid) error {
	if err := n.pubs.wait(ctx); err != nil {
		return fmt.Errorf("unpin %s: %w", root, err)
	}
	err := n.pins.Remove(ctx, root)
	local := n.Local.Unpin(ctx, root)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pinset.ErrNotPinned) && local == nil:
		return nil
	case errors.Is(err, pinset.ErrNotPinned):
		return fmt.Errorf("unpin %s: %w", root, ErrNotPinned)
	}
	return fmt.Errorf("unpin %s: %w", root, err)
}

// ClusterPins calls fn with every pin of the cluster's set.
//
// The pins of adds that have returned but whose entries are still on
// their way to the set (W=1) are listed too, in their place: the set
// lists in CID order, and so does this.
func (n *Node) ClusterPins(ctx context.Context, fn func(ClusterPin) error) error {
	pending := n.pubs.pins()
	if len(pending) == 0 {
		return n.pins.List(ctx, fn)
	}
	// Each with its CID's text, the order the set lists in, encoded once.
	type keyed struct {
		text string
		pin  ClusterPin
	}
	ahead := make([]keyed, 0, len(pending))
	for _, p := range pending {
		ahead = append(ahead, keyed{p.Root.String(), p})
	}
	slices.SortFunc(ahead, func(a, b keyed) int { return strings.Compare(a.text, b.text) })
	listed := map[string]bool{}
	err := n.pins.List(ctx, func(p ClusterPin) error {
		k := p.Root.String()
		for len(ahead) > 0 && ahead[0].text < k {
			if first := ahead[0].pin; !listed[first.Root.KeyString()] {
				listed[first.Root.KeyString()] = true
				if err := fn(first); err != nil {
					return err
				}
			}
			ahead = ahead[1:]
		}
		if listed[p.Root.KeyString()] {
			return nil
		}
		listed[p.Root.KeyString()] = true
		return fn(p)
	})
	if err != nil {
		return err
	}
	for _, a := range ahead {
		if !listed[a.pin.Root.KeyString()] {
			listed[a.pin.Root.KeyString()] = true
			if err := fn(a.pin); err != nil {
				return err
			}
		}
	}
	return nil
}

// ClusterPinTotals counts the pins of the cluster's set and the bytes they
// record, once per change of the set (pinset.Set.Totals). While pins are
// on their way to the set (W=1), they are counted as ClusterPins lists
// them, each root once, rather than waited for: the publish of a large
// import takes seconds (9.5 s at 100,000 pins), and status waited all of
// it.
func (n *Node) ClusterPinTotals(ctx context.Context) (pinset.Totals, error) {
	if !n.pubs.any() {
		return n.pins.Totals(ctx)
	}
	var t pinset.Totals
	err := n.ClusterPins(ctx, func(p ClusterPin) error {
		t.Pins++
		t.Bytes += p.Bytes
		return nil
	})
	return t, err
}

// ClusterPinOf returns root's entry in the set; ErrNotPinned if absent.
func (n *Node) ClusterPinOf(ctx context.Context, root cid.Cid) (ClusterPin, error) {
	if p, ok := n.pubs.pins()[root.KeyString()]; ok {
		return p, nil // on its way to the set (W=1)
	}
	p, err := n.pins.Get(ctx, root)
	if errors.Is(err, pinset.ErrNotPinned) {
		return p, fmt.Errorf("%s: %w", root, ErrNotPinned)
	}
	return p, err
}

// pinBytes is the size the set records for a DAG held here: its root's
// cumulative size, read from the root alone (no walk).
func (l *Local) pinBytes(ctx context.Context, root cid.Cid) (uint64, error) {
	st, err := chunk.StatDAG(ctx, l.store, root)
	return st.Cumulative, err
}
