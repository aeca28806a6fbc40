package node

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/ldstore"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Option adjusts the Config that Open derives from a repo, before it is
// validated. Options apply in order; a later one wins.
type Option func(*Config)

// WithHost runs the node on h (a mocknet host, say) instead of building
// one; the caller keeps ownership of h.
func WithHost(h host.Host) Option { return func(c *Config) { c.Host = h } }

// WithListen replaces the repo's swarm addresses.
func WithListen(addrs ...ma.Multiaddr) Option { return func(c *Config) { c.Listen = addrs } }

// WithBootstrap replaces the repo's bootstrap peers.
func WithBootstrap(peers ...peer.AddrInfo) Option {
	return func(c *Config) { c.Bootstrap = peers }
}

// WithReplication replaces the repo's replication settings.
func WithReplication(rc ReplicationConfig) Option { return func(c *Config) { c.Replication = rc } }

// WithStoreOptions replaces the store options derived from the repo.
func WithStoreOptions(o store.Options) Option { return func(c *Config) { c.StoreOptions = o } }

// WithLogf sends the node's notes to f.
func WithLogf(f func(format string, args ...any)) Option { return func(c *Config) { c.Logf = f } }

// OwnRepo hands the repo to the node, which closes it (releasing its
// lock) after everything else on Close.
func OwnRepo() Option { return func(c *Config) { c.ownRepo = true } }

// WithConfig lets the caller set any other field of the Config.
func WithConfig(f func(*Config)) Option { return Option(f) }

// configFromRepo is what a repo's config file says about a node.
func configFromRepo(r *repo.Repo) (Config, error) {
	rc := r.Config()
	listen, err := parseAddrs(rc.Addresses.Swarm)
	if err != nil {
		return Config{}, fmt.Errorf("node: Addresses.Swarm: %w", err)
	}
	bootAddrs, err := parseAddrs(rc.Bootstrap)
	if err != nil {
		return Config{}, fmt.Errorf("node: Bootstrap: %w", err)
	}
	boot, err := peer.AddrInfosFromP2pAddrs(bootAddrs...)
	if err != nil {
		return Config{}, fmt.Errorf("node: Bootstrap: %w (each must end in /p2p/PEERID)", err)
	}
	priv, err := r.PrivKey()
	if err != nil {
		return Config{}, err
	}
	psk, err := repo.LoadSwarmKey(r.Path())
	if err != nil {
		return Config{}, err
	}
	var writers []peer.ID
	for _, w := range rc.Cluster.Writers {
		id, err := peer.Decode(w)
		if err != nil {
			return Config{}, fmt.Errorf("node: Cluster.Writers: %q: %w", w, err)
		}
		writers = append(writers, id)
	}
	return Config{
		Identity:  priv,
		Listen:    listen,
		Bootstrap: boot,
		SwarmKey:  psk,
		StoreOptions: store.Options{
			SegmentSize:      int64(rc.Storage.SegmentSize),
			Capacity:         clampInt64(uint64(rc.Storage.Max)),
			KeepWrittenCache: rc.Storage.KeepWrittenCache,
			WrittenCache:     clampInt64(uint64(rc.Storage.WrittenCache)),
		},
		ScrubInterval: time.Duration(rc.Storage.ScrubInterval),
		ScrubRate:     clampInt64(uint64(rc.Storage.ScrubRate)),
		Cluster: ClusterConfig{
			Dir:                 r.ClusterDir(),
			RebroadcastInterval: time.Duration(rc.Cluster.RebroadcastInterval),
			UnpinGrace:          time.Duration(rc.Cluster.UnpinGrace),
			SweepInterval:       time.Duration(rc.Cluster.SweepInterval),
			StatusInterval:      time.Duration(rc.Cluster.StatusInterval),
			Writers:             writers,
		},
		Replication: ReplicationConfig{
			Factor:      rc.Replication.Factor,
			WriteQuorum: rc.Replication.WriteQuorum,
			GraceDelay:  time.Duration(rc.Replication.GraceDelay),
			Interval:    time.Duration(rc.Replication.Interval),
			Bandwidth:   clampInt64(uint64(rc.Replication.Bandwidth)),
			PeerQuota:   clampInt64(uint64(rc.Replication.PeerQuota)),
			PeerRate:    clampInt64(uint64(rc.Replication.PeerRate)),
		},
	}, nil
}

func clampInt64(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

func parseAddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Open builds the node of an open repo: its store, identity, DHT state
// and config, adjusted by opts and validated in one place. The caller
// keeps the repo (and its lock) and closes it after the node, unless
// OwnRepo hands it over; Start connects the node to the network.
func Open(r *repo.Repo, opts ...Option) (*Node, error) {
	cfg, err := configFromRepo(r)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Datastore == nil {
		d, err := ldstore.Open(r.DatastoreDir(), nil, cfg.Logf)
		if err != nil {
			return nil, fmt.Errorf("node: open DHT datastore: %w", err)
		}
		// The DHT's state is soft (see ldstore.Unsynced); Close syncs it
		// before the store is marked as announced.
		cfg.Datastore = d.Unsynced()
		cfg.syncDatastore = d.Sync
		cfg.closeDatastore = d.Close
	}
	cf, err := openClusterFiles(cfg.Cluster.Dir, true, cfg.Logf)
	if err != nil {
		if cfg.closeDatastore != nil {
			cfg.closeDatastore()
		}
		return nil, err
	}
	s, err := store.Open(r.BlocksDir(), withStoreLog(cfg.StoreOptions, cfg.Logf))
	if err != nil {
		cf.close()
		if cfg.closeDatastore != nil {
			cfg.closeDatastore()
		}
		return nil, err
	}
	if cfg.ownRepo {
		cfg.closeRepo = r.Close
	}
	n, err := newNode(cfg, s, cf)
	if err != nil {
		s.Close()
		cf.close()
		if cfg.closeDatastore != nil {
			cfg.closeDatastore()
		}
		return nil, err
	}
	return n, nil
}

// OpenLocal opens an open repo's content for work without the network
// (the CLI without a daemon). Close it before the repo.
func OpenLocal(r *repo.Repo, opts ...Option) (*Local, error) {
	cfg, err := configFromRepo(r)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Cluster.validate(); err != nil {
		return nil, err
	}
	cf, err := openClusterFiles(cfg.Cluster.Dir, false, cfg.Logf)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(r.BlocksDir(), withStoreLog(cfg.StoreOptions, cfg.Logf))
	if err != nil {
		cf.close()
		return nil, err
	}
	return newLocal(s, cf, cfg.Cluster.UnpinGrace, cfg.Logf), nil
}

// withStoreLog sends the store's recovery notes to the node's log.
func withStoreLog(o store.Options, logf func(string, ...any)) store.Options {
	if o.Logf == nil && logf != nil {
		o.Logf = logf
	}
	return o
}

// validate fills defaults and checks the config; every constructor goes
// through it.
func (c *Config) validate() error {
	if c.Host == nil && c.Identity == nil {
		return errors.New("node: no identity key")
	}
	if c.FetchWindow < 0 || c.MaxWants < 0 || c.BucketSize < 0 || c.DHTConcurrency < 0 {
		return fmt.Errorf("node: negative FetchWindow, MaxWants, BucketSize or DHTConcurrency")
	}
	if c.ScrubInterval < 0 || c.ScrubRate < 0 {
		return fmt.Errorf("node: negative ScrubInterval or ScrubRate")
	}
	if c.FetchWindow == 0 {
		c.FetchWindow = 16
	}
	if c.MaxWants == 0 {
		c.MaxWants = 128
	}
	if c.BanDuration <= 0 {
		c.BanDuration = time.Hour
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	return c.Replication.validate()
}

// validate fills the replication defaults and checks them.
func (rc *ReplicationConfig) validate() error {
	if rc.Factor == 0 {
		rc.Factor = 3
	}
	if rc.WriteQuorum == 0 {
		rc.WriteQuorum = min(2, rc.Factor)
	}
	if rc.Factor < 1 {
		return fmt.Errorf("node: replication factor %d below 1", rc.Factor)
	}
	if rc.WriteQuorum < 1 || rc.WriteQuorum > rc.Factor {
		return fmt.Errorf("node: write quorum %d outside [1, %d]", rc.WriteQuorum, rc.Factor)
	}
	if rc.PeerQuota == 0 {
		rc.PeerQuota = 1 << 30
	}
	if rc.PeerRate == 0 {
		rc.PeerRate = 256 << 20
	}
	if rc.GraceDelay < 0 || rc.Interval < 0 || rc.Bandwidth < 0 || rc.TickEvery < 0 || rc.PeerQuota < 0 || rc.PeerRate < 0 {
		return fmt.Errorf("node: negative replication delay, interval or bandwidth")
	}
	return nil
}
