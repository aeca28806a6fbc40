package testnet

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ChaosConfig sets a chaos run.
type ChaosConfig struct {
	Seed      int64
	Length    time.Duration // the schedule (default 5m)
	FreezeFor time.Duration // the first fault's freeze (default 1m)
	Bound     time.Duration // every chunk back at R within this of the last fault (default 1m)
	R         int           // default 3
	Writers   int           // default 4
	Readers   int           // default 4
	// WriteEvery and ReadEvery pace each writer and reader (defaults
	// 800ms and 500ms); SampleEvery the copies monitor (default 5s).
	WriteEvery, ReadEvery, SampleEvery time.Duration
}

func (c *ChaosConfig) defaults() {
	if c.Length == 0 {
		c.Length = 5 * time.Minute
	}
	if c.FreezeFor == 0 {
		c.FreezeFor = time.Minute
	}
	if c.Bound == 0 {
		c.Bound = time.Minute
	}
	if c.R == 0 {
		c.R = 3
	}
	if c.Writers == 0 {
		c.Writers = 4
	}
	if c.Readers == 0 {
		c.Readers = 4
	}
	if c.WriteEvery == 0 {
		c.WriteEvery = 800 * time.Millisecond
	}
	if c.ReadEvery == 0 {
		c.ReadEvery = 500 * time.Millisecond
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = 5 * time.Second
	}
}

// CopySample is the copies monitor's view at one moment: over a random
// sample of acknowledged files, the fewest live copies of any block, and
// the most replicas (copies besides the adder's, which its user pinned
// there) among the files no read has cached.
type CopySample struct {
	At          time.Time
	Least, Most int
	Files       int
}

// Chaos runs the workload under the schedule on c, then checks the
// promise. Its error is for a run that could not be carried out; broken
// promises are in the report.
func Chaos(ctx context.Context, c *Cluster, cfg ChaosConfig) (*Report, error) {
	cfg.defaults()
	if err := c.WaitConnected(ctx, time.Minute); err != nil {
		return nil, err
	}
	rep := &Report{Nodes: len(c.Daemons), Seed: cfg.Seed, Length: cfg.Length, Bound: cfg.Bound, R: cfg.R, Timers: c.cfg.Timers}
	rep.Plan = Plan(cfg.Seed, len(c.Daemons), cfg.R-1, cfg.Length, cfg.FreezeFor)
	rec := &Record{}
	count := newCounter(c)
	var nem *Nemesis
	nem = newNemesis(c, cfg.Seed, func(ctx context.Context) bool {
		_, under := count.allAtR(ctx, rec.AcksSnapshot(), cfg.R, healthyNodes(c, nem), nil)
		return under == 0
	})
	start := time.Now()
	rep.Start = start

	wctx, stopWork := context.WithCancel(ctx)
	var work sync.WaitGroup
	work.Add(1)
	go func() {
		defer work.Done()
		(&Workload{Client: c.Client, Nodes: len(c.Daemons), Writers: cfg.Writers, Readers: cfg.Readers,
			Seed: cfg.Seed, Rec: rec, WriteEvery: cfg.WriteEvery, ReadEvery: cfg.ReadEvery}).Run(wctx)
	}()
	mctx, stopMonitor := context.WithCancel(ctx)
	var samples, frozen []CopySample
	var mon sync.WaitGroup
	mon.Add(1)
	go func() {
		defer mon.Done()
		samples, frozen = monitor(mctx, c, count, rec, nem, cfg)
	}()

	nem.Run(ctx, start, rep.Plan)
	// The last faults may end early; the workload runs to the schedule's
	// end.
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(cfg.Length))):
	}
	stopWork()
	work.Wait()
	rep.Applied = nem.Applied()
	for _, a := range rep.Applied {
		rep.LastFault = maxTime(rep.LastFault, a.End)
	}
	if ctx.Err() != nil {
		stopMonitor()
		mon.Wait()
		return rep, ctx.Err()
	}

	// Every acknowledged chunk back at R, timed from the last fault.
	acks := rec.AcksSnapshot()
	deadline := rep.LastFault.Add(3 * cfg.Bound)
	for {
		var below []string
		_, under := count.allAtR(ctx, acks, cfg.R, healthyNodes(c, nem), func(root string, least int, err error) {
			if err != nil {
				below = append(below, fmt.Sprintf("%s: %v", root, err))
			} else {
				below = append(below, fmt.Sprintf("%s: a block on %d nodes", root, least))
			}
		})
		rep.Under, rep.Below = under, below
		if under == 0 {
			rep.Recovery = time.Since(rep.LastFault)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rep.Recovery = -1
			break
		}
		time.Sleep(time.Second) // poll interval
	}
	// Surplus: once every chunk is back at R, and two walks later, no
	// block of a file never read (whose copies are all replicas) is on
	// more than R+2 nodes.
	if rep.Recovery >= 0 {
		pause(ctx, 2*c.cfg.Timers.WalkInterval)
		all := healthyNodes(c, nil)
		seen := map[string]bool{}
		for _, a := range acks {
			if seen[a.CID] || !a.Unread() {
				continue
			}
			seen[a.CID] = true
			if _, most, err := count.copies(ctx, a.CID, all, a.Node); err == nil && most > cfg.R+2 {
				rep.Surplus = append(rep.Surplus, fmt.Sprintf("%s: a block on %d nodes besides its adder's pinned copy", a.CID, most))
			}
		}
	}
	stopMonitor()
	mon.Wait()
	rep.Copies, rep.FrozenCopies = samples, frozen
	if rep.Recovery < 0 {
		rep.Below = append(rep.Below, holdersOf(ctx, c, rep.Below)...)
	}

	// The checks after the run get time of their own, whatever is left
	// of ctx's.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	rep.Lost = readBack(cctx, c, acks)
	ctx = cctx
	rep.AddAfterFull = addAfterFull(ctx, c, rep.Applied)
	rep.Foreign = foreignAddrs(ctx, c)
	for _, d := range c.Daemons {
		rep.Crashes = append(rep.Crashes, d.Crashes()...)
	}
	rec.mu.Lock()
	rep.Acks, rep.Adds, rep.Reads = rec.Acks, rec.Adds, rec.Reads
	rec.mu.Unlock()
	rep.summarize(cfg)
	return rep, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// roots are the distinct roots acknowledged.
func roots(acks []Ack) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range acks {
		if !seen[a.CID] {
			seen[a.CID] = true
			out = append(out, a.CID)
		}
	}
	return out
}

// monitor samples live copies of up to 30 random acknowledged files,
// asking a node under no fault, until ctx ends.
func monitor(ctx context.Context, c *Cluster, count *counter, rec *Record, nem *Nemesis, cfg ChaosConfig) (out, frozen []CopySample) {
	rng := rand.New(rand.NewSource(cfg.Seed + 7))
	var watch []Ack // unread files the frozen node held when it resumed
	watched := false
	for pause(ctx, cfg.SampleEvery) {
		acks := rec.AcksSnapshot()
		if len(acks) == 0 {
			continue
		}
		healthy := healthyNodes(c, nem)
		if f, ok := firstFreeze(nem.Applied(), cfg.FreezeFor); ok && !watched {
			watched = true
			watch = heldUnread(ctx, c, f.Nodes[0], acks, 30)
		}
		if len(watch) > 0 {
			s := CopySample{At: time.Now(), Least: 1 << 30}
			for _, a := range watch {
				if least, most, err := count.copies(ctx, a.CID, healthy, a.Node); err == nil {
					s.Files++
					s.Least, s.Most = min(s.Least, least), max(s.Most, most)
				}
			}
			frozen = append(frozen, s)
		}
		rng.Shuffle(len(acks), func(i, j int) { acks[i], acks[j] = acks[j], acks[i] })
		acks = acks[:min(len(acks), 30)]
		s := CopySample{At: time.Now(), Least: 1 << 30}
		for _, a := range acks {
			least, most, err := count.copies(ctx, a.CID, healthy, a.Node)
			if err != nil {
				continue
			}
			s.Files++
			s.Least = min(s.Least, least)
			if a.Unread() {
				s.Most = max(s.Most, most) // a read's cache is not a surplus replica
			}
		}
		if s.Files > 0 {
			out = append(out, s)
		}
	}
	return out, frozen
}

// firstFreeze is the schedule's long freeze, once it is over.
func firstFreeze(applied []Applied, d time.Duration) (Applied, bool) {
	for _, a := range applied {
		if a.Kind == Freeze && a.For == d {
			return a, true
		}
	}
	return Applied{}, false
}

// heldUnread lists up to n files never read that node i holds.
func heldUnread(ctx context.Context, c *Cluster, i int, acks []Ack, n int) []Ack {
	var out []Ack
	seen := map[string]bool{}
	for _, a := range acks {
		if len(out) == n {
			break
		}
		if seen[a.CID] || !a.Unread() {
			continue
		}
		seen[a.CID] = true
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := c.Client.Holds(qctx, i, a.CID)
		cancel()
		if err == nil && ok {
			out = append(out, a)
		}
	}
	return out
}

// healthyNodes are the nodes under no fault now (all, without a nemesis).
func healthyNodes(c *Cluster, nem *Nemesis) []int {
	var faulty map[int]Kind
	if nem != nil {
		faulty = nem.Faulty()
	}
	var out []int
	for i := range c.Daemons {
		if _, bad := faulty[i]; !bad {
			out = append(out, i)
		}
	}
	return out
}

// readBack reads every acknowledged file from every node and lists those
// that do not come back byte for byte.
func readBack(ctx context.Context, c *Cluster, acks []Ack) []string {
	var mu sync.Mutex
	var lost []string
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for _, a := range acks {
		for i := range c.Daemons {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				var err error
				for try := 0; try < 3; try++ { // a read may race a node's restart of a connection
					rctx, cancel := context.WithTimeout(ctx, time.Minute)
					var sum [32]byte
					var n int
					sum, n, err = c.Client.Get(rctx, i, a.CID, a.Path)
					cancel()
					if err == nil && (sum != a.Hash || n != a.Size) {
						err = fmt.Errorf("%d bytes that differ from the %d acknowledged", n, a.Size)
						break
					}
					if err == nil {
						return
					}
				}
				mu.Lock()
				lost = append(lost, fmt.Sprintf("%s/%s from node %d: %v", a.CID, a.Path, i, err))
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Strings(lost)
	return lost
}

// addAfterFull adds through each node whose disk was filled, now freed:
// the node must take adds again.
func addAfterFull(ctx context.Context, c *Cluster, applied []Applied) map[int]string {
	out := map[int]string{}
	for _, a := range applied {
		if a.Kind != DiskFull {
			continue
		}
		i := a.Nodes[0]
		var err error
		for try := 0; try < 10; try++ {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, _, err = c.Client.Add(actx, i, "after-full", []byte(fmt.Sprintf("node %d has room again (%d)", i, try)))
			cancel()
			if err == nil {
				break
			}
			time.Sleep(time.Second) // retry interval
		}
		if err != nil {
			out[i] = err.Error()
		} else {
			out[i] = "ok"
		}
	}
	return out
}

// foreignAddrs lists every address a node is connected to outside the
// testnet's 10.77.0.0/16, and every route a node's namespace has past it
// (a default route would let packets leave).
func foreignAddrs(ctx context.Context, c *Cluster) []string {
	net := netip.MustParsePrefix("10.77.0.0/16")
	var out []string
	for i := range c.Daemons {
		peers, err := c.Client.Peers(ctx, i)
		if err != nil {
			out = append(out, fmt.Sprintf("node %d: peers: %v", i, err))
			continue
		}
		for _, p := range peers {
			a, err := ma.NewMultiaddr(p.Addr)
			if err != nil {
				out = append(out, fmt.Sprintf("node %d: %s: %v", i, p.Addr, err))
				continue
			}
			ipa, err := manet.ToIP(a)
			addr, ok := netip.AddrFromSlice(ipa)
			if err != nil || !ok || !net.Contains(addr.Unmap()) {
				out = append(out, fmt.Sprintf("node %d connected to %s", i, p.Addr))
			}
		}
		routes, err := c.Net.Routes(ctx, i)
		if err != nil {
			out = append(out, fmt.Sprintf("node %d: routes: %v", i, err))
		}
		for _, line := range strings.Split(routes, "\n") {
			if strings.HasPrefix(line, "default") {
				out = append(out, fmt.Sprintf("node %d has a route out: %s", i, line))
			}
		}
	}
	return slices.Compact(out)
}

// holdersOf tells, for the first few roots below R, which nodes hold the
// root block itself (asked of each node, whatever their views): whether
// copies are missing or only not counted; and, of each node, whether the
// root is in its pin set and which holders its own view counts: why no
// node repairs it.
func holdersOf(ctx context.Context, c *Cluster, below []string) []string {
	byID := map[string]int{}
	for i, d := range c.Daemons {
		byID[d.ID] = i
	}
	var out []string
	for _, line := range below[:min(len(below), 10)] {
		root, _, _ := strings.Cut(line, ":")
		var held, views []string
		for i := range c.Daemons {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ok, err := c.Client.Holds(qctx, i, root)
			cancel()
			switch {
			case err != nil:
				held = append(held, fmt.Sprintf("%d?", i))
			case ok:
				held = append(held, fmt.Sprint(i))
				views = append(views, fmt.Sprintf("node %d: %s", i, c.Client.view(ctx, i, root, byID)))
			default:
				views = append(views, fmt.Sprintf("node %d (not holding it): %s", i, c.Client.view(ctx, i, root, byID)))
			}
		}
		out = append(out, fmt.Sprintf("%s is held by nodes %s; %s", root, strings.Join(held, ", "), strings.Join(views, "; ")))
	}
	// A node whose walks stopped repairs nothing.
	var walks []string
	for i := range c.Daemons {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		w, err := c.Client.Metric(qctx, i, "cairn_repair_walks_total")
		cancel()
		if err != nil {
			walks = append(walks, fmt.Sprintf("%d: ?", i))
		} else {
			walks = append(walks, fmt.Sprintf("%d: %.0f", i, w))
		}
	}
	return append(out, "repair walks run, by node: "+strings.Join(walks, ", "))
}
