// Package node is a cairn peer, the one object a program embeds. A Node
// owns a libp2p host, the DHT, the block exchange (server and client) and
// the local content (Local: the block store, pins, replica duty, GC), and
// offers what programs need of them: add a file, fetch a DAG from many
// providers at once, read it through the healing path, find providers,
// keep every chunk on R live nodes (replication, repair, drain, the
// scrubber), manage connections. Open builds one from a repo; OpenLocal
// opens the same content without the network.
package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/dht"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

// Config configures a Node.
type Config struct {
	// Identity is the node's key. Unused when Host is given.
	Identity crypto.PrivKey
	// Listen addresses for the host the node builds.
	Listen []ma.Multiaddr
	// Bootstrap peers are dialled at Start.
	Bootstrap []peer.AddrInfo
	// SwarmKey, if set, confines the node to peers with the same key
	// (TCP only: libp2p's private networks do not cover QUIC).
	SwarmKey pnet.PSK
	// Host, if set, is used instead of building one (simulations hand in
	// mocknet hosts). The caller keeps ownership and closes it.
	Host host.Host
	// StoreOptions open the node's block store (Open derives them from
	// the repo's Storage settings).
	StoreOptions store.Options
	// Datastore keeps the DHT's state; Open uses the repo's datastore
	// directory when it is nil.
	Datastore ds.Batching
	// closeDatastore closes a datastore Open made itself; closeRepo
	// the repo, with OwnRepo.
	closeDatastore func() error
	// syncDatastore makes the writes of a datastore Open made itself
	// durable (they are not synced one by one: see ldstore.Unsynced).
	syncDatastore func() error
	closeRepo     func() error
	ownRepo       bool
	// BucketSize is the DHT's k (default 20).
	BucketSize int
	// DHTConcurrency is the DHT lookups' alpha (default 10).
	DHTConcurrency int
	// KadOptions tune kad-dht beyond what cairn exposes (simulations).
	KadOptions []kaddht.Option
	// FetchWindow is how many wants may be in flight on one provider
	// (default 16). Each is a stream of up to 16 blocks that the
	// provider sends one after another, so the window is what keeps a
	// provider busy while this node hashes and stores what came: 4 gave
	// 322 MB/s and 16 gave 519 MB/s over loopback (cairn-bench -window).
	FetchWindow int
	// MaxWants bounds the wants in flight across all of the node's
	// fetches together (default 128); each holds a block buffer while it
	// runs, so this caps that memory (about 33 MiB at the default) however
	// many files are fetched at once.
	MaxWants int
	// BanDuration is how long a peer that broke the protocol is kept out
	// (default 1h).
	BanDuration time.Duration
	// ScrubInterval, if set, starts a scrub pass this often (the first one
	// an interval after Start), reading at most ScrubRate bytes per second.
	ScrubInterval time.Duration
	ScrubRate     int64
	// Replication configures the copies kept on other nodes.
	Replication ReplicationConfig
	// Cluster configures the node's part in the cluster's pin set.
	Cluster ClusterConfig
	// Logf receives notes; default discards them.
	Logf func(format string, args ...any)
}

// Node is a running cairn peer.
type Node struct {
	*Local
	cfg      Config
	host     host.Host
	ownsHost bool
	dht      *dht.DHT
	server   *exchange.Server
	client   *exchange.Client
	pushes   *pushQueue // the client's pushes, batched by peer
	// deltaClient fetches the pin set's deltas, which are not UnixFS.
	deltaClient *exchange.Client
	wantSlots   chan struct{} // one per want in flight, across fetches (MaxWants)
	slotMu      sync.Mutex
	slotFreed   chan struct{} // closed and replaced when a want slot frees
	gater       *banGater
	rep         *replicator
	ps          *pubsub.PubSub
	pins        *pinset.Set
	pinGroup    *group[pinset.Pin]  // adds of pins from concurrent writers, committed together
	pubs        pendingPubs         // W=1 pins on their way to the set
	w1Pins      pinBatch            // those pins, gathered into deltas
	announceCh  chan []mh.Multihash // keys of adds, for announceLoop
	// announceLost: keys were dropped from the queue as the node closed,
	// so the store is not marked as fully announced.
	announceLost atomic.Bool
	announceMu   sync.RWMutex // announceShut's; see announce
	announceShut bool
	status       *informer
	closeOnce    sync.Once

	// The indexer's queue (indexer.go).
	idxMu      sync.Mutex
	idxPending map[string]cid.Cid
	idxBusy    bool
	idxWake    chan struct{}

	scrubErrors atomic.Int64
	passed      atomic.Int64 // blocks passed through (passThrough)
	draining    atomic.Bool  // handing chunks away: take no more
	drainMu     sync.Mutex

	// Background work (scrubber, repair, write copies) stops when Close
	// cancels ctx; goBG refuses new work once Close has begun waiting.
	ctx    context.Context
	cancel context.CancelFunc
	bgMu   sync.Mutex
	closed bool
	bg     sync.WaitGroup
}

// goBG runs fn in the background unless the node is closing.
func (n *Node) goBG(fn func()) bool {
	n.bgMu.Lock()
	defer n.bgMu.Unlock()
	if n.closed {
		return false
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		fn()
	}()
	return true
}

// newNode builds a node over an open store from a validated config;
// Open is the one way in. Start connects it to the network.
func newNode(cfg Config, s *store.Store, cf *clusterFiles) (*Node, error) {
	n := &Node{Local: newLocal(s, cf, cfg.Cluster.UnpinGrace, cfg.Logf), cfg: cfg, gater: newBanGater(),
		wantSlots: make(chan struct{}, cfg.MaxWants), slotFreed: make(chan struct{}),
		idxPending: map[string]cid.Cid{}, idxWake: make(chan struct{}, 1)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.w1Pins = pinBatch{ctx: n.ctx, goBG: n.goBG, publish: n.publishW1, linger: pinLinger}
	if cfg.Host != nil {
		n.host = cfg.Host
	} else {
		h, err := newHost(cfg.Identity, cfg.Listen, cfg.SwarmKey, n.gater)
		if err != nil {
			return nil, err
		}
		n.host, n.ownsHost = h, true
	}
	d, err := dht.New(dht.Config{
		Host:           n.host,
		Datastore:      cfg.Datastore,
		BootstrapPeers: cfg.Bootstrap,
		BucketSize:     cfg.BucketSize,
		Concurrency:    cfg.DHTConcurrency,
		KadOptions:     cfg.KadOptions,
		Keys:           s.ForEach,
		KeysKnown:      s.Marked(),
		Logf:           cfg.Logf,
	})
	if err != nil {
		n.closeHost()
		return nil, err
	}
	n.dht = d
	n.client = exchange.NewClient(n.host)
	n.pushes = newPushQueue(n.ctx, n.client, n.goBG)
	n.deltaClient = exchange.NewClient(n.host)
	n.deltaClient.Verify = verifyDelta
	n.rep, err = newReplicator(n, cfg.Replication)
	if err != nil {
		d.Close()
		n.closeHost()
		return nil, err
	}
	if err := n.openSet(cf); err != nil {
		d.Close()
		n.closeHost()
		return nil, err
	}
	n.server, err = exchange.NewServer(exchange.ServerConfig{
		Host:        n.host,
		Blocks:      served{user: s, deltas: cf.deltas},
		OnPush:      n.onPush,
		OnPushBatch: n.pushBatch,
		OnMisbehave: n.misbehaved,
		Logf:        cfg.Logf,
	})
	if err != nil {
		n.pins.Close()
		d.Close()
		n.closeHost()
		return nil, err
	}
	n.rep.launch()
	n.announceCh = make(chan []mh.Multihash, 64)
	n.goBG(n.announceLoop)
	return n, nil
}

func (n *Node) logf(format string, args ...any) { n.cfg.Logf(format, args...) }

// tryWantSlot takes one of the node's want slots, if one is free.
func (n *Node) tryWantSlot() bool {
	select {
	case n.wantSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

// releaseWantSlot gives a slot back and wakes the fetches waiting for one.
func (n *Node) releaseWantSlot() {
	<-n.wantSlots
	n.slotMu.Lock()
	close(n.slotFreed)
	n.slotFreed = make(chan struct{})
	n.slotMu.Unlock()
}

// slotFreedChan is closed when a want slot next frees.
func (n *Node) slotFreedChan() <-chan struct{} {
	n.slotMu.Lock()
	defer n.slotMu.Unlock()
	return n.slotFreed
}

func (n *Node) closeHost() {
	if n.ownsHost {
		n.host.Close()
	}
}

// Start dials the bootstrap peers, joins the DHT and starts the scrubber.
func (n *Node) Start(ctx context.Context) error {
	if err := n.dht.Start(ctx); err != nil {
		return err
	}
	if n.cfg.ScrubInterval > 0 {
		n.goBG(n.scrubLoop)
	}
	n.rep.startTicking()
	n.goBG(n.indexLoop)
	n.goBG(n.sweepLoop)
	n.goBG(n.status.run)
	// The reconcile puts this node's own pins the set lacks in it: one
	// more publish an unpin must wait for, or an add made meanwhile,
	// unpinned at once, came back when the reconcile put its pin in.
	reconciled := n.pubs.begin(nil)
	if !n.goBG(func() {
		defer reconciled()
		if err := n.reconcileSet(n.ctx); err != nil && n.ctx.Err() == nil {
			n.logf("cluster: reconcile with the set: %v", err)
		}
	}) {
		reconciled()
	}
	return nil
}

func (n *Node) scrubLoop() {
	t := time.NewTicker(n.cfg.ScrubInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		st, err := n.Scrub(n.ctx, n.cfg.ScrubRate)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil || st.Corrupt > 0 {
			n.logf("scrub: checked %d blocks, %d corrupt, %d repaired (%v)", st.Checked, st.Corrupt, st.Repaired, err)
		}
	}
}

// Close stops the node and closes its store (and its host, if it built it).
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.cancel()
		n.host.Network().StopNotify(n.rep.notifiee)
		n.bgMu.Lock()
		n.closed = true
		n.bgMu.Unlock()
		n.bg.Wait()
		n.status.close()
		perr := n.pins.Close()
		n.server.Close()
		n.closeAnnounces()
		err = errors.Join(n.dht.Close(), perr)
		n.closeHost()
		n.markAnnounced(err)
		if serr := n.Local.Close(); err == nil {
			err = serr
		}
		if n.cfg.closeDatastore != nil {
			if derr := n.cfg.closeDatastore(); err == nil {
				err = derr
			}
		}
		if n.cfg.closeRepo != nil {
			if rerr := n.cfg.closeRepo(); err == nil {
				err = rerr
			}
		}
	})
	return err
}

// markAnnounced marks the store at a clean stop when the DHT's keystore
// holds every block, so that the next start need not walk the index to
// hand them over (a million blocks take seconds and hundreds of MiB).
func (n *Node) markAnnounced(closeErr error) {
	if closeErr != nil || !n.dht.Settled() || n.announceLost.Load() {
		return
	}
	// The keystore's writes are not synced one by one: make them durable
	// before the mark says they are there.
	if n.cfg.syncDatastore != nil {
		if err := n.cfg.syncDatastore(); err != nil {
			n.logf("node: the next start walks every block to announce it: sync the DHT's datastore: %v", err)
			return
		}
	}
	// Puts not committed yet (blocks a read cached, announced as it ended)
	// are committed first: Mark refuses over them.
	if err := n.store.Sync(); err != nil {
		n.logf("node: the next start walks every block to announce it: %v", err)
		return
	}
	if err := n.store.Mark(); err != nil {
		n.logf("node: the next start walks every block to announce it: %v", err)
	}
}

// misbehaved cuts off a peer that broke the protocol.
func (n *Node) misbehaved(p peer.ID, err error) {
	n.logf("node: cutting off %s: %v", p, err)
	n.gater.ban(p, n.cfg.BanDuration)
	n.host.Network().ClosePeer(p)
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// DHT is the node's DHT.
func (n *Node) DHT() *dht.DHT { return n.dht }

// Addrs returns the node's listen addresses as full multiaddrs ending in
// /p2p/ID, as `cairn id` prints them.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// AddrInfo is how other nodes reach this one.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Connect dials a peer.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if err := n.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("node: connect %s: %w", ai.ID, err)
	}
	return nil
}

// Peers lists the connected peers.
func (n *Node) Peers() []peer.ID { return n.host.Network().Peers() }

// Fetch brings every block of the DAG under root into the store, from
// the providers the DHT knows (and any given), verifying each block, and
// announces what it fetched. Blocks already held are neither fetched nor
// announced again: every way a block comes in (add, fetch, a replica's
// push) announces it, and the DHT hands every held block to its provider
// at start.
//
// Fetched blocks are a copy of data that lives elsewhere, so Fetch does
// not wait for them to be fsynced: their commit starts as it returns and
// runs in the background, and one lost in a crash is fetched again.
func (n *Node) Fetch(ctx context.Context, root cid.Cid, opts FetchOptions) error {
	f := n.newFetch(ctx, opts)
	err := f.run(root)
	// Announced even when the fetch failed: the blocks it did store are
	// held, and a later fetch of the DAG would not announce them.
	if perr := f.announce(); err == nil {
		err = perr
	}
	return err
}

// Open fetches the file under root if it is not all held, and returns a
// reader over it.
func (n *Node) Open(ctx context.Context, root cid.Cid) (*chunk.Reader, error) {
	if err := n.Fetch(ctx, root, FetchOptions{}); err != nil {
		return nil, err
	}
	return n.Reader(ctx, root)
}

// FindProviders looks up providers of c in the DHT.
func (n *Node) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, dht.LookupStats, error) {
	return n.dht.FindProviders(ctx, c, max)
}

// Pin fetches the DAG under root if it is not all held, and pins it.
// The fetch runs outside the GC hold, so a slow one never holds up GC or
// the replicas waiting behind it; the pin is made under the hold once
// every block is here. A GC in between may take fetched blocks (unpinned
// until then): they are fetched again, a few times at most.
func (n *Node) Pin(ctx context.Context, root cid.Cid, opts FetchOptions) error {
	return n.pin(ctx, root, "", opts)
}

// pin is Pin with the name the local pin record keeps.
func (n *Node) pin(ctx context.Context, root cid.Cid, name string, opts FetchOptions) error {
	var err error
	for range 3 {
		if err = n.Fetch(ctx, root, opts); err != nil {
			return err
		}
		n.gcMu.RLock()
		if err = n.complete(ctx, root); err == nil {
			err = n.pinHeld(root, name)
			n.gcMu.RUnlock()
			return err
		}
		n.gcMu.RUnlock()
	}
	return fmt.Errorf("pin %s: %w", root, err)
}

// WriteQuorum is W, the copies Add waits for.
func (n *Node) WriteQuorum() int {
	if n.cfg.Replication.Disabled {
		return 1
	}
	return n.rep.cfg.WriteQuorum
}

// Factor is R, the live copies every chunk should have.
func (n *Node) Factor() int { return n.rep.cfg.Factor }
