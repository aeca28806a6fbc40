package testnet

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Applied is a fault as it happened.
type Applied struct {
	Fault
	Start, End time.Time
	Note       string // what went wrong applying or reverting it, or why it was skipped
}

// Nemesis applies a schedule to a cluster.
type Nemesis struct {
	c    *Cluster
	rng  *rand.Rand
	atR  func(context.Context) bool // every acknowledged chunk at R or more
	mu   sync.Mutex
	done []Applied
	now  map[int]Kind // nodes faulty now
}

func newNemesis(c *Cluster, seed int64, atR func(context.Context) bool) *Nemesis {
	return &Nemesis{c: c, rng: rand.New(rand.NewSource(seed)), atR: atR, now: map[int]Kind{}}
}

// Faulty lists the nodes under a fault now.
func (m *Nemesis) Faulty() map[int]Kind {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]Kind, len(m.now))
	for k, v := range m.now {
		out[k] = v
	}
	return out
}

// Applied lists the faults applied so far, in start order.
func (m *Nemesis) Applied() []Applied {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.done)
	slices.SortFunc(out, func(a, b Applied) int { return a.Start.Compare(b.Start) })
	return out
}

// Run applies plan from start; it returns once every fault is reverted
// (on ctx's end too: a fault is never left in place).
func (m *Nemesis) Run(ctx context.Context, start time.Time, plan []Fault) {
	var wg sync.WaitGroup
	for _, f := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.one(ctx, start, f)
		}()
	}
	wg.Wait()
}

func (m *Nemesis) one(ctx context.Context, start time.Time, f Fault) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(start.Add(f.At))):
	}
	a := Applied{Fault: f}
	if f.Kind == Loss {
		// The promise allows a permanent loss only once every
		// acknowledged chunk is back at R copies.
		deadline := time.Now().Add(f.For)
		for !m.atR(ctx) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				a.Start, a.End, a.Note = time.Now(), time.Now(), "skipped: chunks not all at R within "+f.For.String()
				m.record(a, nil)
				return
			}
			time.Sleep(time.Second) // poll interval
		}
	}
	m.mu.Lock()
	for _, n := range f.Nodes {
		m.now[n] = f.Kind
	}
	m.mu.Unlock()
	a.Start = time.Now()
	err := m.apply(ctx, f)
	if err == nil {
		select {
		case <-ctx.Done():
		case <-time.After(f.For):
		}
	}
	rerr := m.revert(f) // whatever ctx says: nothing is left broken
	a.End = time.Now()
	switch {
	case err != nil:
		a.Note = "apply: " + err.Error()
	case rerr != nil:
		a.Note = "revert: " + rerr.Error()
	}
	m.record(a, f.Nodes)
}

func (m *Nemesis) record(a Applied, nodes []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range nodes {
		delete(m.now, n)
	}
	m.done = append(m.done, a)
}

func (m *Nemesis) others(nodes []int) []int {
	var out []int
	for i := range m.c.Daemons {
		if !slices.Contains(nodes, i) {
			out = append(out, i)
		}
	}
	return out
}

func (m *Nemesis) apply(ctx context.Context, f Fault) error {
	c := m.c
	switch f.Kind {
	case Freeze:
		return c.Daemons[f.Nodes[0]].Signal(syscall.SIGSTOP, false)
	case Kill:
		return c.Daemons[f.Nodes[0]].Kill()
	case Partition:
		return c.Net.Partition(ctx, f.Nodes, m.others(f.Nodes))
	case Isolate:
		return c.Net.SetLink(ctx, f.Nodes[0], false)
	case DiskFull:
		_, err := c.Disks[f.Nodes[0]].Fill()
		return err
	case Bitrot:
		return m.rot(f.Nodes[0])
	case Loss:
		d := c.Daemons[f.Nodes[0]]
		if err := d.Kill(); err != nil {
			return err
		}
		if err := d.Init(ctx); err != nil {
			return err
		}
		return d.Start(ctx, c.peersOf(d.I))
	}
	return fmt.Errorf("unknown fault %q", f.Kind)
}

func (m *Nemesis) revert(f Fault) error {
	c := m.c
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch f.Kind {
	case Freeze:
		return c.Daemons[f.Nodes[0]].Signal(syscall.SIGCONT, false)
	case Kill:
		return c.Daemons[f.Nodes[0]].Start(ctx, c.peersOf(f.Nodes[0]))
	case Partition:
		return c.Net.Heal(ctx, f.Nodes, m.others(f.Nodes))
	case Isolate:
		return c.Net.SetLink(ctx, f.Nodes[0], true)
	case DiskFull:
		return c.Disks[f.Nodes[0]].Free()
	}
	return nil // bitrot heals itself; a lost node was replaced at once
}

// rot flips bytes at random places of the node's largest segment file,
// past its first 4 KiB: the node finds out when it reads or scrubs.
func (m *Nemesis) rot(i int) error {
	seg, err := m.c.Daemons[i].Segment()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() <= 8<<10 {
		return fmt.Errorf("%s: only %d bytes", seg, fi.Size())
	}
	m.mu.Lock()
	offs := make([]int64, 16)
	for k := range offs {
		offs[k] = 4<<10 + m.rng.Int63n(fi.Size()-4<<10)
	}
	m.mu.Unlock()
	b := make([]byte, 1)
	for _, off := range offs {
		if _, err := f.ReadAt(b, off); err != nil {
			return err
		}
		b[0] ^= 0x5a
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
	}
	return nil
}
