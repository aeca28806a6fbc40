package testnet

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults the nemesis knows.
const (
	Freeze    Kind = "freeze"    // SIGSTOP, then SIGCONT: connections stay open
	Kill      Kind = "kill"      // SIGKILL, then a restart on the same repo
	Partition Kind = "partition" // the nodes cut off from the others (both sides keep the clients)
	Isolate   Kind = "isolate"   // the node's link down: cut off from everyone
	DiskFull  Kind = "disk-full" // the node's disk filled, then freed
	Bitrot    Kind = "bitrot"    // bytes of a segment file flipped; the node holds the slot while it heals
	Loss      Kind = "loss"      // the node's repo deleted, a fresh one started: only once every chunk is at R
)

// Fault is one entry of a schedule.
type Fault struct {
	Kind  Kind
	Nodes []int
	At    time.Duration // from the schedule's start
	For   time.Duration
}

// End is when the fault is over.
func (f Fault) End() time.Duration { return f.At + f.For }

func (f Fault) String() string {
	ns := make([]string, len(f.Nodes))
	for i, n := range f.Nodes {
		ns[i] = fmt.Sprint(n)
	}
	return fmt.Sprintf("%v-%v %s node %s", f.At, f.End(), f.Kind, strings.Join(ns, ","))
}

// Plan lays out a seeded schedule of faults over length for nodes nodes,
// keeping the promise's budget: at most budget nodes faulty at any
// moment, and a loss only while no other fault runs (the nemesis
// also waits, before it, for every chunk to be back at R). The first
// fault freezes a node for freezeFor (the frozen-node check); every kind
// appears once before any repeats, as the length allows; the last fault
// ends by length.
func Plan(seed int64, nodes, budget int, length, freezeFor time.Duration) []Fault {
	rng := rand.New(rand.NewSource(seed))
	if budget < 1 || nodes <= budget {
		return nil
	}
	first := []Kind{DiskFull, Kill, Partition, Isolate, Bitrot}
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	pending := append([]Kind{Freeze}, first...)
	lossAt := length * 6 / 10
	var out []Fault
	busy := func(t time.Duration) []int { // nodes faulty at t
		var b []int
		for _, f := range out {
			if f.At <= t && t < f.End() {
				b = append(b, f.Nodes...)
			}
		}
		return b
	}
	// Faults last 15 to 45 s, less in a short schedule.
	shortest, longest := min(15*time.Second, length/6), min(maxFault, length/3)
	lost := false
	for t := 5 * time.Second; t < length; t += time.Duration(3+rng.Intn(8)) * time.Second {
		used := busy(t)
		if !lost && t >= lossAt && len(used) == 0 {
			lost = true
			n := rng.Intn(nodes)
			d := min(30*time.Second, length-t)
			out = append(out, Fault{Kind: Loss, Nodes: []int{n}, At: t, For: d})
			t += d
			continue
		}
		if len(used) >= budget || (!lost && t >= lossAt) {
			continue // full, or waiting for the way to clear for the loss
		}
		kind := Freeze
		if len(pending) > 0 {
			kind = pending[0]
		} else {
			kind = []Kind{Freeze, Kill, Partition, Isolate, DiskFull, Bitrot}[rng.Intn(6)]
		}
		d := shortest + time.Duration(rng.Int63n(int64(longest-shortest)/int64(time.Second)+1))*time.Second
		switch {
		case kind == Freeze && len(out) == 0:
			d = freezeFor
		case kind == Bitrot:
			d = shortest + 5*time.Second
		}
		if t+d > length || (!lost && t+d > lossAt) {
			continue // it would run into the loss, or past the end
		}
		if len(pending) > 0 {
			pending = pending[1:]
		}
		free := make([]int, 0, nodes)
		for n := range nodes {
			if !slices.Contains(used, n) {
				free = append(free, n)
			}
		}
		count := 1
		if kind == Partition && budget-len(used) >= 2 && rng.Intn(2) == 0 {
			count = 2 // a minority of two
		}
		rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		picked := slices.Clone(free[:count])
		slices.Sort(picked)
		out = append(out, Fault{Kind: kind, Nodes: picked, At: t, For: d})
	}
	return out
}

// maxFault is the longest fault but the first freeze, in a long schedule.
const maxFault = 45 * time.Second

// MaxConcurrent is the most nodes any moment of the schedule has faulty.
func MaxConcurrent(plan []Fault) int {
	most := 0
	for _, f := range plan {
		n := 0
		for _, g := range plan {
			if g.At <= f.At && f.At < g.End() {
				n += len(g.Nodes)
			}
		}
		most = max(most, n)
	}
	return most
}
