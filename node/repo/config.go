package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the node configuration stored in the repo's config file. JSON
// keys are the Go field names, as in kubo, and dotted paths of them
// ("Storage.Max") address values in Get and Set.
type Config struct {
	Identity    IdentityConfig
	Addresses   AddressesConfig
	Bootstrap   []string // multiaddrs of peers to dial at start; empty by default so a new node talks to no one
	Storage     StorageConfig
	Replication ReplicationConfig
	Cluster     ClusterConfig
	Gateway     GatewayConfig
}

// ClusterConfig controls the node's part in the cluster's pin set.
type ClusterConfig struct {
	RebroadcastInterval Duration // how often the set's heads are announced again
	UnpinGrace          Duration // how long an unpinned file's blocks stay before they are freed
	SweepInterval       Duration // how often blocks no pin needs are freed
	StatusInterval      Duration // how often the node publishes its status
	// Writers, if set, are the peer IDs whose pins and unpins are taken;
	// empty: every member of the swarm may write.
	Writers []string
}

// IdentityConfig describes the node's libp2p identity. It is derived from
// identity.key at init and cannot be changed with Set.
type IdentityConfig struct {
	PeerID string
}

// AddressesConfig lists where the node listens.
type AddressesConfig struct {
	Swarm   []string // libp2p listen multiaddrs
	Gateway string   // host:port of the HTTP gateway
}

// StorageConfig bounds the block store.
type StorageConfig struct {
	Max           Size     // total bytes the block store may use
	SegmentSize   Size     // size of one block store segment file
	ScrubInterval Duration // how often the scrubber starts a pass over every block
	ScrubRate     Size     // bytes per second the scrubber may read
	// KeepWrittenCache keeps blocks in the page cache once committed;
	// by default they are dropped (see chunk/store Options).
	KeepWrittenCache bool
	// WrittenCache is how many bytes of the blocks committed last stay in
	// the page cache (without KeepWrittenCache), so a file reads fast
	// right after it was added.
	WrittenCache Size
}

// ReplicationConfig controls how many copies of data the node maintains.
type ReplicationConfig struct {
	Factor      int      // copies to keep, this node included
	WriteQuorum int      // copies that must be stored before a write succeeds
	GraceDelay  Duration // how long a missing replica is tolerated before repair
	Interval    Duration // period of the replication check
	Bandwidth   Size     // bytes per second replication may use
	// PeerQuota bounds the bytes one peer's pushes may keep here while no
	// pin claims them; PeerRate the bytes per second one peer may push.
	PeerQuota Size
	PeerRate  Size
}

// GatewayConfig controls the HTTP gateway.
type GatewayConfig struct {
	MaxUploadSize Size     // largest accepted upload
	FetchTimeout  Duration // how long to look for content before giving up
	MaxFetches    int      // reads of content not held here served at once
	ClientTimeout Duration // how long a client may stall reading or sending
	// APIHosts are further Host values (host:port) the API answers, past
	// the listener's own address: the names a reverse proxy or a user
	// reaches it by. Any other Host is refused (DNS rebinding).
	APIHosts []string
}

// Bounds on Storage.SegmentSize: below 1MiB the per-segment overhead
// dominates; above 4GiB offsets no longer fit in 32 bits.
const (
	MinSegmentSize = 1 * MiB
	MaxSegmentSize = 4 * GiB
)

// DefaultConfig returns the configuration Init writes, minus the identity.
// Addresses are loopback-only and Bootstrap is empty: a fresh node is
// reachable by and talks to no one until the user says otherwise.
func DefaultConfig() *Config {
	return &Config{
		Addresses: AddressesConfig{
			Swarm:   []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
			Gateway: "127.0.0.1:8080",
		},
		Bootstrap: []string{},
		Storage: StorageConfig{
			Max:           100 * GB,
			SegmentSize:   256 * MiB,
			ScrubInterval: Duration(24 * time.Hour),
			ScrubRate:     20 * MB,
			WrittenCache:  1 * GiB,
		},
		Replication: ReplicationConfig{
			Factor:      3,
			WriteQuorum: 2,
			GraceDelay:  Duration(2 * time.Minute),
			Interval:    Duration(10 * time.Minute),
			Bandwidth:   50 * MB,
			PeerQuota:   1 * GiB,
			PeerRate:    256 * MB,
		},
		Cluster: ClusterConfig{
			RebroadcastInterval: Duration(10 * time.Second),
			UnpinGrace:          Duration(time.Hour),
			SweepInterval:       Duration(time.Minute),
			StatusInterval:      Duration(10 * time.Second),
		},
		Gateway: GatewayConfig{
			MaxUploadSize: 64 * GiB,
			FetchTimeout:  Duration(time.Minute),
			MaxFetches:    64,
			ClientTimeout: Duration(30 * time.Second),
		},
	}
}

// Validate checks every field and reports all problems at once, each
// wrapping ErrBadValue.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, badValue(format, args...)) }

	if c.Identity.PeerID != "" {
		if err := checkPeerID(c.Identity.PeerID); err != nil {
			bad("Identity.PeerID %q is not a peer ID: %v", c.Identity.PeerID, err)
		}
	}
	// go-multiaddr is not a direct dependency, so addresses get a shape
	// check here; the network layer parses them fully when it dials/listens.
	for i, a := range c.Addresses.Swarm {
		if !strings.HasPrefix(a, "/") {
			bad("Addresses.Swarm[%d] %q is not a multiaddr (want e.g. \"/ip4/0.0.0.0/tcp/4001\")", i, a)
		}
	}
	if _, _, err := net.SplitHostPort(c.Addresses.Gateway); err != nil {
		bad("Addresses.Gateway %q is not host:port (want e.g. \"127.0.0.1:8080\")", c.Addresses.Gateway)
	}
	for i, a := range c.Bootstrap {
		if !strings.HasPrefix(a, "/") {
			bad("Bootstrap[%d] %q is not a multiaddr (want e.g. \"/ip4/192.0.2.1/tcp/4001/p2p/12D3Koo...\")", i, a)
		}
	}

	if c.Storage.ScrubInterval <= 0 {
		bad("Storage.ScrubInterval must be greater than 0")
	}
	if c.Storage.ScrubRate == 0 {
		bad("Storage.ScrubRate must be greater than 0")
	}
	if c.Storage.Max == 0 {
		bad("Storage.Max must be greater than 0")
	}
	if s := c.Storage.SegmentSize; s < MinSegmentSize || s > MaxSegmentSize {
		bad("Storage.SegmentSize %s is out of range [%s, %s]", s, MinSegmentSize, MaxSegmentSize)
	} else if c.Storage.Max != 0 && c.Storage.Max < s {
		bad("Storage.Max %s is smaller than one segment (Storage.SegmentSize %s)", c.Storage.Max, s)
	}

	r := c.Replication
	if r.Factor < 1 {
		bad("Replication.Factor %d must be at least 1", r.Factor)
	}
	if r.WriteQuorum < 1 || r.WriteQuorum > max(r.Factor, 1) {
		bad("Replication.WriteQuorum %d must be between 1 and Replication.Factor (%d)", r.WriteQuorum, r.Factor)
	}
	positive := []struct {
		name string
		ok   bool
	}{
		{"Replication.GraceDelay", r.GraceDelay > 0},
		{"Cluster.RebroadcastInterval", c.Cluster.RebroadcastInterval > 0},
		{"Cluster.UnpinGrace", c.Cluster.UnpinGrace > 0},
		{"Cluster.SweepInterval", c.Cluster.SweepInterval > 0},
		{"Cluster.StatusInterval", c.Cluster.StatusInterval > 0},
		{"Replication.Interval", r.Interval > 0},
		{"Replication.Bandwidth", r.Bandwidth > 0},
		{"Replication.PeerQuota", r.PeerQuota > 0},
		{"Replication.PeerRate", r.PeerRate > 0},
		{"Gateway.MaxUploadSize", c.Gateway.MaxUploadSize > 0},
		{"Gateway.FetchTimeout", c.Gateway.FetchTimeout > 0},
		{"Gateway.MaxFetches", c.Gateway.MaxFetches > 0},
		{"Gateway.ClientTimeout", c.Gateway.ClientTimeout > 0},
	}
	for _, p := range positive {
		if !p.ok {
			bad("%s must be greater than 0", p.name)
		}
	}
	return errors.Join(errs...)
}

// clone returns a deep copy of c. A JSON round trip stays correct as fields
// are added, which a hand-written copy would not.
func (c *Config) clone() (*Config, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: copy: %w", err)
	}
	cp := &Config{}
	if err := json.Unmarshal(data, cp); err != nil {
		return nil, fmt.Errorf("config: copy: %w", err)
	}
	cp.normalize()
	return cp, nil
}

// normalize replaces nil lists with empty ones so they read back as [] and
// not null.
func (c *Config) normalize() {
	if c.Addresses.Swarm == nil {
		c.Addresses.Swarm = []string{}
	}
	if c.Bootstrap == nil {
		c.Bootstrap = []string{}
	}
}

// LoadConfig reads and validates the config of the repo at path. It takes
// no lock and does not check the format version (see CheckVersion).
func LoadConfig(path string) (*Config, error) {
	c, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("repo: invalid config %s: %w", filepath.Join(path, configFile), err)
	}
	return c, nil
}

// SetConfigValue sets key to value in the config of the repo at path and
// returns the new config. The value is parsed and the whole config validated
// before anything is written; on any error the file is left unchanged. The
// write is atomic but not serialized against other writers: two concurrent
// SetConfigValue calls may lose one update.
//
// The stored config need not be valid beforehand, so that a bad hand edit can
// be repaired with Set, as long as the result is valid.
func SetConfigValue(path, key, value string) (*Config, error) {
	// Refuse to write a config this build may not understand.
	if err := CheckVersion(path); err != nil {
		return nil, err
	}
	c, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := c.Set(key, value); err != nil {
		return nil, err
	}
	if err := writeConfig(path, c); err != nil {
		return nil, err
	}
	return c, nil
}

// readConfig decodes the config file over the defaults, so a field missing
// from the file takes its default. Unknown fields are rejected: in a hand
// edited file they are almost always typos that would otherwise be ignored.
func readConfig(path string) (*Config, error) {
	name := filepath.Join(path, configFile)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notInitialized(path, "no config file")
	}
	if err != nil {
		return nil, fmt.Errorf("repo: read config: %w", err)
	}
	c := DefaultConfig()
	if err := decodeStrict(data, c); err != nil {
		return nil, newError(ErrBadValue, err, "repo: parse config %s: %v", name, err)
	}
	c.normalize()
	return c, nil
}

// decodeStrict decodes exactly one JSON value from data into v, rejecting
// unknown object fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// writeConfig atomically replaces the config file of the repo at path.
func writeConfig(path string, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("repo: encode config: %w", err)
	}
	data = append(data, '\n')
	if err := writeFileAtomic(filepath.Join(path, configFile), data, 0o644); err != nil {
		return fmt.Errorf("repo: write config: %w", err)
	}
	return nil
}
