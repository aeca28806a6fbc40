// Package testnet runs real `cairn daemon` processes, each in a Linux
// network namespace of its own with its repo on a small tmpfs of its own,
// and tries to lose data: a workload adds and reads files while a nemesis
// partitions, kills, freezes, fills, rots and destroys nodes on a seeded
// schedule within the promise's fault budget, and a checker then holds
// the recorded acknowledgements against the promise (every acknowledged
// file reads back from every node, every chunk back at R copies, no
// daemon crashed). As Jepsen does: a history, a nemesis, a checker.
//
// It needs root (namespaces, mounts) and the ip tool; Available says
// whether it can run. Everything it makes is named after a run id and
// removed by Close, also after an interrupt.
package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config describes a testnet.
type Config struct {
	Bin      string // the cairn binary
	Nodes    int    // default 7
	Dir      string // where disks and logs go (a fresh temporary directory by default)
	ID       string // names the namespaces (default: from the process ID)
	DiskSize int64  // each node's tmpfs (default 256 MiB)
	// Settings are `cairn config` keys set on every repo before it starts,
	// on top of Timers.
	Settings map[string]string
	Timers   Timers
}

// Timers are the node settings the harness shortens; they are written in
// the report.
type Timers struct {
	GraceDelay     time.Duration // Replication.GraceDelay
	WalkInterval   time.Duration // Replication.Interval
	StatusInterval time.Duration // Cluster.StatusInterval
	ScrubInterval  time.Duration // Storage.ScrubInterval
}

// DefaultTimers are the short timers of a testnet run.
var DefaultTimers = Timers{GraceDelay: 10 * time.Second, WalkInterval: 15 * time.Second,
	StatusInterval: 2 * time.Second, ScrubInterval: 30 * time.Second}

func (t Timers) settings() map[string]string {
	return map[string]string{
		"Replication.GraceDelay": t.GraceDelay.String(),
		"Replication.Interval":   t.WalkInterval.String(),
		"Cluster.StatusInterval": t.StatusInterval.String(),
		"Storage.ScrubInterval":  t.ScrubInterval.String(),
	}
}

// Cluster is a running testnet.
type Cluster struct {
	cfg     Config
	Net     *Net
	Disks   []*Disk
	Daemons []*Daemon
	Client  *Client
	ownDir  bool

	closeOnce sync.Once
	closeErr  error
}

// Up builds the network, mounts the disks, and starts the daemons, each
// bootstrapped to the ones before it. On error, what was made is undone.
func Up(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 7
	}
	if cfg.DiskSize == 0 {
		cfg.DiskSize = 256 << 20
	}
	if cfg.Timers == (Timers{}) {
		cfg.Timers = DefaultTimers
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprint(os.Getpid())
	}
	if cfg.Bin == "" {
		return nil, errors.New("testnet: no cairn binary")
	}
	c := &Cluster{cfg: cfg}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "cairn-testnet-")
		if err != nil {
			return nil, err
		}
		c.cfg.Dir, c.ownDir = dir, true
	}
	if err := c.up(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) up(ctx context.Context) error {
	n, err := NewNet(ctx, c.cfg.ID, c.cfg.Nodes)
	if err != nil {
		return err
	}
	c.Net = n
	settings := c.cfg.Timers.settings()
	for k, v := range c.cfg.Settings {
		settings[k] = v
	}
	for i := range c.cfg.Nodes {
		d, err := NewDisk(filepath.Join(c.cfg.Dir, fmt.Sprintf("node%d", i), "disk"), c.cfg.DiskSize)
		if err != nil {
			return err
		}
		c.Disks = append(c.Disks, d)
		dm := newDaemon(i, c.cfg.Bin, n, d, settings)
		os.Remove(dm.Log) // an earlier run's, in a directory given again
		if err := dm.Init(ctx); err != nil {
			return err
		}
		c.Daemons = append(c.Daemons, dm)
	}
	for i, d := range c.Daemons {
		if err := d.Start(ctx, c.peersOf(i)); err != nil {
			return err
		}
	}
	c.Client = newClient(n, c.Daemons)
	return nil
}

// peersOf is every other node's swarm address, to bootstrap from.
func (c *Cluster) peersOf(i int) []string {
	var out []string
	for j, d := range c.Daemons {
		if j != i {
			d.mu.Lock()
			out = append(out, d.Swarm)
			d.mu.Unlock()
		}
	}
	return out
}

// Dir is where the disks and logs are.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// Close stops every daemon, unmounts the disks, deletes the namespaces
// and, if it made it, the directory. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		var wg sync.WaitGroup
		for _, d := range c.Daemons {
			wg.Add(1)
			go func() { defer wg.Done(); d.Stop() }()
		}
		wg.Wait()
		if c.Client != nil {
			c.Client.HTTP.CloseIdleConnections()
		}
		for _, d := range c.Disks {
			if err := d.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Net != nil {
			if err := c.Net.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.ownDir {
			// Logs stay when the caller gave the directory.
			if err := os.RemoveAll(c.cfg.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// WaitConnected waits until every node's status lists all nodes up.
func (c *Cluster) WaitConnected(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ok := true
		for i := range c.Daemons {
			up, err := c.Client.UpNodes(ctx, i)
			if err != nil || up < len(c.Daemons) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: nodes not all connected within %v", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond): // poll interval
		}
	}
}
