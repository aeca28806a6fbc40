package simulations

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// Options configure a simulated network.
type Options struct {
	// Dir holds every node's store (a subdirectory each). Required.
	Dir string
	// Seed drives every random choice the harness makes (identities,
	// bootstrap peers, victims), so a run can be repeated.
	Seed int64
	// BucketSize is the DHT's k (default 20). Lookup scenarios use 4, as
	// kad-dht's own tests do, so lookups take several hops at small N.
	BucketSize int
	// Concurrency is the DHT lookups' alpha (default kad-dht's 10); the
	// lookup scenario uses Kademlia's 3.
	Concurrency int
	// KadOptions tune every node's kad-dht further.
	KadOptions []kaddht.Option
	// Latency and Bandwidth (bytes per second, 0: unlimited) shape every
	// link.
	Latency   time.Duration
	Bandwidth float64
	// Bootstrap is how many live nodes a joining node is given (default 3).
	Bootstrap int
	// Replication configures every node; the zero value turns it off.
	Replication node.ReplicationConfig
	// ScrubInterval and ScrubRate start each node's scrubber (0: none).
	ScrubInterval time.Duration
	ScrubRate     int64
	// SegmentSize of each node's store (default 4 MiB: small files keep
	// hundreds of stores light).
	SegmentSize int64
	// Cluster, if set, replaces each node's cluster timers (its Dir stays
	// the node's own).
	Cluster *node.ClusterConfig
}

func (o *Options) validate() error {
	if o.Dir == "" {
		return errors.New("simulations: Options.Dir is required")
	}
	if o.BucketSize < 0 || o.Concurrency < 0 || o.Bootstrap < 0 || o.Latency < 0 || o.Bandwidth < 0 {
		return errors.New("simulations: negative option")
	}
	if o.BucketSize == 0 {
		o.BucketSize = 20
	}
	if o.Bootstrap == 0 {
		o.Bootstrap = 3
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 4 << 20
	}
	return nil
}

// Member is one node of a simulated network.
type Member struct {
	Index int
	Node  *node.Node
	Host  host.Host
	Dir   string

	alive bool // guarded by Network.mu
}

// ID is the member's peer ID.
func (m *Member) ID() peer.ID { return m.Host.ID() }

func (m *Member) String() string { return fmt.Sprintf("node %d (%s)", m.Index, m.ID().ShortString()) }

// Network is a set of real cairn nodes (node.Node with its DHT, exchange
// and repair) on libp2p's mocknet, in one process. Nodes join and die;
// links can be cut into partitions and healed.
type Network struct {
	opts Options
	mn   mocknet.Mocknet

	rngMu sync.Mutex
	rng   *rand.Rand

	mu      sync.Mutex
	members []*Member
	cut     map[[2]peer.ID]bool // links removed by a partition
}

// New makes an empty network.
func New(opts Options) (*Network, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	mn := mocknet.New()
	mn.SetLinkDefaults(mocknet.LinkOptions{Latency: opts.Latency, Bandwidth: opts.Bandwidth})
	return &Network{opts: opts, mn: mn, rng: rand.New(rand.NewSource(opts.Seed)), cut: map[[2]peer.ID]bool{}}, nil
}

// Intn is the network's seeded random source, for scenarios.
func (nw *Network) Intn(n int) int {
	nw.rngMu.Lock()
	defer nw.rngMu.Unlock()
	return nw.rng.Intn(n)
}

// Read fills p from the seeded random source.
func (nw *Network) Read(p []byte) (int, error) {
	nw.rngMu.Lock()
	defer nw.rngMu.Unlock()
	return nw.rng.Read(p)
}

// Grow starts count nodes, one after the other, each bootstrapped from
// random live nodes.
func (nw *Network) Grow(ctx context.Context, count int) error {
	for range count {
		if _, err := nw.Join(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Join starts a node, linked to every live node and bootstrapped from
// Options.Bootstrap random ones.
func (nw *Network) Join(ctx context.Context) (*Member, error) {
	priv, _, err := crypto.GenerateEd25519Key(nw)
	if err != nil {
		return nil, fmt.Errorf("simulations: identity: %w", err)
	}
	nw.mu.Lock()
	idx := len(nw.members)
	nw.mu.Unlock()
	addr := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", idx>>16&0xff, idx>>8&0xff, idx&0xff))
	h, err := nw.mn.AddPeer(priv, addr)
	if err != nil {
		return nil, fmt.Errorf("simulations: host: %w", err)
	}
	live := nw.Live()
	for _, m := range live {
		if _, err := nw.mn.LinkPeers(h.ID(), m.ID()); err != nil {
			h.Close()
			return nil, fmt.Errorf("simulations: link: %w", err)
		}
	}
	var boot []peer.AddrInfo
	for _, i := range nw.pick(len(live), nw.opts.Bootstrap) {
		boot = append(boot, peer.AddrInfo{ID: live[i].ID(), Addrs: live[i].Host.Addrs()})
	}
	dir := filepath.Join(nw.opts.Dir, fmt.Sprintf("node-%04d", idx))
	n, err := nodetest.Open(dir,
		node.WithHost(h),
		node.WithBootstrap(boot...),
		node.WithReplication(nw.opts.Replication),
		node.WithStoreOptions(store.Options{SegmentSize: nw.opts.SegmentSize}),
		node.WithConfig(func(c *node.Config) {
			c.Datastore = dssync.MutexWrap(ds.NewMapDatastore()) // DHT state in memory
			c.BucketSize = nw.opts.BucketSize
			c.DHTConcurrency = nw.opts.Concurrency
			c.KadOptions = nw.opts.KadOptions
			c.ScrubInterval = nw.opts.ScrubInterval
			c.ScrubRate = nw.opts.ScrubRate
			if cc := nw.opts.Cluster; cc != nil {
				dir := c.Cluster.Dir
				c.Cluster = *cc
				c.Cluster.Dir = dir
			}
		}))
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		h.Close()
		return nil, err
	}
	// kad-dht admits a peer to its table once identify has confirmed it
	// speaks the protocol; wait for that, or the next node to join may
	// bootstrap from one that knows no one yet.
	for len(boot) > 0 && n.DHT().Kad().RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			n.Close()
			h.Close()
			return nil, fmt.Errorf("simulations: node %d found no DHT peer: %w", idx, ctx.Err())
		case <-time.After(5 * time.Millisecond): // poll interval
		}
	}
	m := &Member{Index: idx, Node: n, Host: h, Dir: dir, alive: true}
	nw.mu.Lock()
	nw.members = append(nw.members, m)
	nw.mu.Unlock()
	return m, nil
}

// pick returns k distinct random indices below n (all of them if k >= n).
func (nw *Network) pick(n, k int) []int {
	nw.rngMu.Lock()
	defer nw.rngMu.Unlock()
	perm := nw.rng.Perm(n)
	return perm[:min(k, n)]
}

// Live returns the members that are up, in join order.
func (nw *Network) Live() []*Member {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []*Member
	for _, m := range nw.members {
		if m.alive {
			out = append(out, m)
		}
	}
	return out
}

// Alive says whether m is up.
func (nw *Network) Alive(m *Member) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return m.alive
}

// Random returns a random live member.
func (nw *Network) Random() *Member {
	live := nw.Live()
	if len(live) == 0 {
		return nil
	}
	return live[nw.Intn(len(live))]
}

// Kill stops a member without warning, as a crash or a pulled cable
// would: no drain, its links gone, its store discarded for good.
func (nw *Network) Kill(m *Member) error {
	nw.mu.Lock()
	if !m.alive {
		nw.mu.Unlock()
		return nil
	}
	m.alive = false
	nw.mu.Unlock()
	// Cut the links first, so the others see it vanish rather than say
	// goodbye, then stop it.
	for _, o := range nw.mn.Peers() {
		if o != m.ID() {
			nw.mn.UnlinkPeers(m.ID(), o)
			nw.mn.DisconnectPeers(m.ID(), o)
		}
	}
	err := m.Node.Close()
	if herr := m.Host.Close(); err == nil {
		err = herr
	}
	if rerr := os.RemoveAll(m.Dir); err == nil {
		err = rerr
	}
	return err
}

// Partition cuts every link between the two groups and closes the
// connections across.
func (nw *Network) Partition(a, b []*Member) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			if err := nw.mn.UnlinkPeers(x.ID(), y.ID()); err != nil {
				return fmt.Errorf("simulations: partition: %w", err)
			}
			nw.mn.DisconnectPeers(x.ID(), y.ID())
			nw.cut[[2]peer.ID{x.ID(), y.ID()}] = true
		}
	}
	return nil
}

// Heal restores the links a partition cut (between members still alive)
// and has each member dial one random member it was cut from, as a
// node's bootstrap list or routing-table refresh would; the DHT and
// repair find the rest.
func (nw *Network) Heal(ctx context.Context) error {
	nw.mu.Lock()
	cut := nw.cut
	nw.cut = map[[2]peer.ID]bool{}
	nw.mu.Unlock()
	across := map[peer.ID][]peer.ID{}
	alive := map[peer.ID]*Member{}
	for _, m := range nw.Live() {
		alive[m.ID()] = m
	}
	for pair := range cut {
		if alive[pair[0]] == nil || alive[pair[1]] == nil {
			continue
		}
		if _, err := nw.mn.LinkPeers(pair[0], pair[1]); err != nil {
			return fmt.Errorf("simulations: heal: %w", err)
		}
		across[pair[0]] = append(across[pair[0]], pair[1])
		across[pair[1]] = append(across[pair[1]], pair[0])
	}
	for id, others := range across {
		o := alive[others[nw.Intn(len(others))]]
		if err := alive[id].Node.Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Host.Addrs()}); err != nil &&
			alive[id].Host.Network().Connectedness(o.ID()) != network.Connected {
			return fmt.Errorf("simulations: heal: %s dial %s: %w", alive[id], o, err)
		}
	}
	return nil
}

// Close stops every live node and the mocknet.
func (nw *Network) Close() error {
	var errs []error
	for _, m := range nw.Live() {
		nw.mu.Lock()
		m.alive = false
		nw.mu.Unlock()
		errs = append(errs, m.Node.Close(), m.Host.Close())
	}
	errs = append(errs, nw.mn.Close())
	return errors.Join(errs...)
}

// RefreshRoutingTables has every live node refresh its DHT routing table
// (a lookup per bucket), so that tables reflect the nodes that joined
// since, as kad-dht's periodic refresh would in time. One node at a time:
// hundreds refreshing at once flood each other with the liveness checks
// kad-dht runs on every new connection.
func (nw *Network) RefreshRoutingTables(ctx context.Context) error {
	for _, m := range nw.Live() {
		select {
		case err := <-m.Node.DHT().Kad().ForceRefresh():
			if err != nil {
				return fmt.Errorf("simulations: refresh %s: %w", m, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// WaitRepairQuiet polls until every live node has completed two repair
// walks since the call (so one began after it) and the last found no
// block of its own below R live copies: the nodes' own view agrees that
// nothing needs repair.
func (nw *Network) WaitRepairQuiet(ctx context.Context) error {
	live := nw.Live()
	start := make([]int64, len(live))
	for i, m := range live {
		start[i] = m.Node.RepairStats().Walks
	}
	for {
		busy := ""
		for i, m := range live {
			if !nw.Alive(m) {
				continue
			}
			st := m.Node.RepairStats()
			if st.Walks < start[i]+2 || st.UnderReplicated > 0 {
				busy = fmt.Sprintf("%s: %d walks since, %d blocks under-replicated", m, st.Walks-start[i], st.UnderReplicated)
				break
			}
		}
		if busy == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulations: repair still busy: %s: %w", busy, ctx.Err())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}
