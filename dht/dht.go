// Package dht is cairn's view of the Kademlia DHT: a private
// go-libp2p-kad-dht (protocol prefix /cairn, server mode) that announces
// the blocks a node holds in batches through kad-dht's sweeping provider,
// finds providers and closest peers, and measures every lookup (RPCs sent
// and hops).
//
// The sweeping provider starts offline and keeps to itself keys it is given
// while offline: they go to its keystore, and only the first time it comes
// online does it announce the keystore's contents. Two cases would slip
// through: blocks the node stored while no daemon ran (never given to the
// provider at all), and blocks added during a later offline spell (kept
// until their region's next reprovide, hours later). So at Start the DHT
// hands every key the node holds (Config.Keys) to the keystore, unless the
// node knows the keystore has them all (Config.KeysKnown: a walk of a
// million keys is not for every start), and after an offline spell it
// announces them all again. A keystore write that fails (a full disk) is
// noticed, and every held key is handed over again until one walk goes
// through.
package dht

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/provider"
	"github.com/libp2p/go-libp2p-kad-dht/provider/keystore"
	"github.com/libp2p/go-libp2p-kad-dht/provider/stats"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// errKeystore stops a walk once a keystore write failed: the rest would
// fail alike, and the whole walk is made again later.
var errKeystore = errors.New("dht: a keystore write failed")

// ProtocolPrefix keeps cairn's DHT apart from the public IPFS one.
const ProtocolPrefix = "/cairn"

// Config configures a DHT.
type Config struct {
	Host host.Host
	// Datastore holds provider records, the keystore of what this node
	// provides, and the provider's schedule. nil keeps them in memory.
	Datastore ds.Batching
	// BootstrapPeers are dialled at Start.
	BootstrapPeers []peer.AddrInfo
	// BucketSize is Kademlia's k (default 20). Small values make lookups
	// take more hops in small networks, as simulations want.
	BucketSize int
	// Concurrency is the lookups' alpha, the queries in flight at once
	// (default 10, kad-dht's). Simulations lower it to Kademlia's 3 so
	// that hops show at small N.
	Concurrency int
	// KadOptions are appended to the options cairn gives kad-dht, for
	// simulations that tune what cairn does not expose.
	KadOptions []kaddht.Option
	// ReprovideInterval is how often provider records are refreshed
	// (default 22h, as in IPFS).
	ReprovideInterval time.Duration
	// Keys walks every block key the node holds; the DHT announces them all
	// whenever it comes online. nil means nothing to announce then.
	Keys func(ctx context.Context, fn func(mh.Multihash) error) error
	// KeysKnown says the keystore already holds every key Keys walks (the
	// node saw none stored since a stop at which Settled was true), so
	// Start need not walk them.
	KeysKnown bool
	// KeystoreRetry is how often, after a keystore write failed, every
	// held key is handed over again (default a minute).
	KeystoreRetry time.Duration
	// Logf receives notes; default discards them.
	Logf func(format string, args ...any)
}

// DHT is a running DHT node.
type DHT struct {
	cfg  Config
	kad  *kaddht.IpfsDHT
	ks   keystore.Keystore
	prov *provider.SweepingProvider

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// keep tracks whether the keystore may lack a held key.
	keep keeping
	// closing fences Provide off from Close: the provider's keystore
	// drops a write it gets while closing without a word, so a Provide
	// from then on counts as a failure.
	closeMu sync.RWMutex
	closing bool

	mu          sync.Mutex
	online      bool
	wentOffline bool // offline since the last announce-all
	lookups     Totals
}

// New builds the DHT; Start connects it.
func New(cfg Config) (*DHT, error) {
	if cfg.Host == nil {
		return nil, errors.New("dht: no host")
	}
	if cfg.BucketSize == 0 {
		cfg.BucketSize = 20
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 10
	}
	if cfg.BucketSize < 0 || cfg.Concurrency < 0 {
		return nil, errors.New("dht: negative bucket size or concurrency")
	}
	if cfg.ReprovideInterval == 0 {
		cfg.ReprovideInterval = 22 * time.Hour
	}
	if cfg.KeystoreRetry == 0 {
		cfg.KeystoreRetry = time.Minute
	}
	if cfg.KeystoreRetry < 0 {
		return nil, errors.New("dht: negative keystore retry interval")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	store := cfg.Datastore
	if store == nil {
		store = dssync.MutexWrap(ds.NewMapDatastore())
	}
	d := &DHT{cfg: cfg}
	// A DHT that never starts has handed nothing over either.
	d.keep.unsettled = cfg.Keys != nil && !cfg.KeysKnown
	d.ctx, d.cancel = context.WithCancel(context.Background())

	opts := append([]kaddht.Option{
		kaddht.ProtocolPrefix(ProtocolPrefix),
		kaddht.Mode(kaddht.ModeServer),
		kaddht.BucketSize(cfg.BucketSize),
		kaddht.Concurrency(cfg.Concurrency),
		kaddht.Datastore(namespace.Wrap(store, ds.NewKey("/dht"))),
		kaddht.BootstrapPeers(cfg.BootstrapPeers...),
	}, cfg.KadOptions...)
	kad, err := kaddht.New(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	d.kad = kad
	ks, err := keystore.NewKeystore(watched{namespace.Wrap(store, ds.NewKey("/keystore")), d.keep.fail})
	if err != nil {
		kad.Close()
		return nil, fmt.Errorf("dht: keystore: %w", err)
	}
	d.ks = ks
	prov, err := provider.New(
		provider.WithHost(cfg.Host),
		provider.WithRouter(kad),
		provider.WithMessageSender(kad.MessageSender()),
		provider.WithSelfAddrs(kad.FilteredAddrs),
		provider.WithReplicationFactor(cfg.BucketSize),
		provider.WithReprovideInterval(cfg.ReprovideInterval),
		provider.WithAddLocalRecord(func(h mh.Multihash) error {
			return kad.Provide(context.Background(), cid.NewCidV1(cid.Raw, h), false)
		}),
		provider.WithKeystore(ks),
		provider.WithDatastore(namespace.Wrap(store, ds.NewKey("/provider"))),
		provider.WithConnectivityCallbacks(d.onOnline, d.onDisconnected, d.onOffline),
	)
	if err != nil {
		ks.Close()
		kad.Close()
		return nil, fmt.Errorf("dht: provider: %w", err)
	}
	d.prov = prov
	return d, nil
}

// Start dials the bootstrap peers (those that answer) and fills the routing
// table. A node with no reachable bootstrap peer still starts: it is alone
// until a peer finds it.
func (d *DHT) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, pi := range d.cfg.BootstrapPeers {
		wg.Add(1)
		go func(pi peer.AddrInfo) {
			defer wg.Done()
			if err := d.cfg.Host.Connect(ctx, pi); err != nil {
				d.cfg.Logf("dht: bootstrap peer %s: %v", pi.ID, err)
			}
		}(pi)
	}
	wg.Wait()
	if err := d.kad.Bootstrap(ctx); err != nil {
		return fmt.Errorf("dht: bootstrap: %w", err)
	}
	d.wg.Add(1)
	go d.keepLoop()
	return nil
}

// keepLoop hands every held key to the keystore at once if it may lack
// some, and again at each KeystoreRetry tick after a failure, until the
// DHT closes.
func (d *DHT) keepLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.KeystoreRetry)
	defer t.Stop()
	for {
		if gen, ok := d.keep.due(); ok && d.cfg.Keys != nil {
			n, err := d.announceAll(d.ctx, false, gen)
			if n >= bigWalk {
				// A walk of a million keys through the keystore holds a
				// few hundred MiB for a while, once; the runtime would
				// give it back to the system over minutes.
				debug.FreeOSMemory()
			}
			if err == nil {
				d.keep.walked(gen)
				if gen > 0 {
					d.cfg.Logf("dht: every held block is in the keystore again (%d)", n)
				}
			} else if d.ctx.Err() == nil {
				d.cfg.Logf("dht: hand held blocks to the keystore: %v (again in %v)", err, d.cfg.KeystoreRetry)
			}
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Settled reports whether the keystore holds every key the node held at
// Start and every key handed to Provide since: the node may then mark its
// store so that its next start skips the walk. Ask it after Close.
func (d *DHT) Settled() bool { return d.keep.settled() }

// goAnnounce hands every held key to the provider in the background:
// with force false, keys it has never seen join its keystore (and are
// announced now if it is online, else at its first online); with force
// true, all are announced again.
func (d *DHT) goAnnounce(force bool) {
	if d.cfg.Keys == nil || d.ctx.Err() != nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if _, err := d.announceAll(d.ctx, force, d.keep.generation()); err != nil && d.ctx.Err() == nil {
			d.cfg.Logf("dht: announce held blocks: %v", err)
		}
	}()
}

// Close stops the provider and the DHT.
func (d *DHT) Close() error {
	d.closeMu.Lock()
	d.closing = true
	d.closeMu.Unlock()
	d.cancel()
	d.wg.Wait()
	err := d.prov.Close()
	if kerr := d.ks.Close(); err == nil {
		err = kerr
	}
	if kerr := d.kad.Close(); err == nil {
		err = kerr
	}
	return err
}

// Kad exposes the underlying kad-dht, for the node's routing needs.
func (d *DHT) Kad() *kaddht.IpfsDHT { return d.kad }

// Online reports whether the provider sees the network.
func (d *DHT) Online() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.online
}

func (d *DHT) onDisconnected() {
	d.mu.Lock()
	d.online = false
	d.mu.Unlock()
}

func (d *DHT) onOffline() {
	d.mu.Lock()
	d.online = false
	d.wentOffline = true
	d.mu.Unlock()
}

// onOnline runs on the provider's goroutine and must not block.
func (d *DHT) onOnline() {
	d.mu.Lock()
	d.online = true
	again := d.wentOffline
	d.wentOffline = false
	d.mu.Unlock()
	if again {
		d.goAnnounce(true)
	}
}

// bigWalk is how many keys walked make it worth giving the memory the
// walk took back at once.
const bigWalk = 100_000

// announceAll hands every held key to the provider, and stops early if a
// keystore write fails after generation gen. It returns the keys walked.
func (d *DHT) announceAll(ctx context.Context, force bool, gen int64) (int, error) {
	const batch = 4096
	var keys []mh.Multihash
	walked := 0
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := d.prov.StartProviding(force, keys...)
		keys = keys[:0]
		// A walk that settles the keystore stops at its first failure
		// (the whole walk is made again); a forced one, owed to the
		// network after an offline spell, goes on.
		if err == nil && !force && d.keep.generation() != gen {
			err = errKeystore
		}
		return err
	}
	err := d.cfg.Keys(ctx, func(k mh.Multihash) error {
		walked++
		keys = append(keys, k)
		if len(keys) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return walked, err
	}
	return walked, flush()
}

// Provide announces keys now and keeps them reprovided. The sweeping
// provider keeps keys to itself while it thinks it is offline, and after
// a node's first peer arrives it may take up to a minute to notice; in
// that window the keys are also announced one by one with plain kad-dht
// provides, so a block added is findable as soon as the node has peers.
func (d *DHT) Provide(keys ...mh.Multihash) error {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closing {
		d.keep.fail()
		return fmt.Errorf("dht: provide: %w", provider.ErrClosed)
	}
	if err := d.prov.StartProviding(false, keys...); err != nil {
		d.keep.fail()
		return fmt.Errorf("dht: provide: %w", err)
	}
	if !d.Online() && d.kad.RoutingTable().Size() > 0 {
		d.goProvideDirect(keys)
	}
	return nil
}

// directWorkers bounds the concurrent lookups of direct provides.
const directWorkers = 16

func (d *DHT) goProvideDirect(keys []mh.Multihash) {
	keys = append([]mh.Multihash(nil), keys...)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		sem := make(chan struct{}, directWorkers)
		var wg sync.WaitGroup
		for _, k := range keys {
			if d.ctx.Err() != nil || d.Online() {
				break // the provider has them from here on
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(k mh.Multihash) {
				defer func() { <-sem; wg.Done() }()
				ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
				defer cancel()
				if err := d.kad.Provide(ctx, cid.NewCidV1(cid.Raw, k), true); err != nil && d.ctx.Err() == nil {
					d.cfg.Logf("dht: provide %s: %v", k.B58String(), err)
				}
			}(k)
		}
		wg.Wait()
	}()
}

// ProviderStats reports the sweeping provider's queues and counters.
func (d *DHT) ProviderStats(ctx context.Context) (stats.Stats, error) {
	return d.prov.Stats(ctx)
}

// StopProviding stops reproviding keys (their records expire).
func (d *DHT) StopProviding(keys ...mh.Multihash) error {
	return d.prov.StopProviding(keys...)
}
