package node

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// repairBenchSize is the data the repair bench holds at three copies: 1
// GiB, or CAIRN_REPAIR_BENCH_BYTES.
func repairBenchSize(b *testing.B) int64 {
	if v := os.Getenv("CAIRN_REPAIR_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("CAIRN_REPAIR_BENCH_BYTES=%q", v)
		}
		return n
	}
	return 1 << 30
}

// BenchmarkRepairAfterANodeDies holds a file at three copies on ten
// loopback nodes, kills one, and times until every block is back at three
// live copies: with the repair bandwidth unlimited, and with 20 MB/s per
// node. It reports the repaired bytes per second (from the end of the
// grace delay) against the one-provider fetch rate measured between two
// of the same nodes, and how many nodes repaired.
func BenchmarkRepairAfterANodeDies(b *testing.B) {
	size := repairBenchSize(b)
	for _, bw := range []int64{0, 20e6} {
		name := "bandwidth=unlimited"
		if bw > 0 {
			name = fmt.Sprintf("bandwidth=%dMB/s", bw/1e6)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				repairOnce(b, size, bw)
			}
		})
	}
}

func repairOnce(b *testing.B, size, bandwidth int64) {
	b.StopTimer()
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 2, GraceDelay: 500 * time.Millisecond, Interval: time.Hour,
		TickEvery: 50 * time.Millisecond, Bandwidth: bandwidth}
	var nodes []*Node
	// Each store keeps what it wrote last in the page cache, as a
	// daemon's does by default (Storage.WrittenCache).
	// The same ten identities every run, so that every run places the
	// file alike and loses the same node: the figures of two builds are
	// then of one scenario (which nodes hold what follows from the IDs).
	rng := rand.NewChaCha8([32]byte{10})
	for range 10 {
		key, _, err := crypto.GenerateEd25519Key(rng)
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, startNodeWith(b, b.TempDir(), store.Options{WrittenCache: 1 << 30}, withReplication(rc), withIdentity(key)))
	}
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			link(b, a, c)
		}
	}
	ctx := context.Background()
	res, err := nodes[0].Add(ctx, io.LimitReader(rand.NewChaCha8([32]byte{7}), size), chunk.AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	keys := dagKeys(b, nodes[0], res.Root)
	sizes := map[string]int64{}
	for _, k := range keys {
		n, err := nodes[0].Store().Size(k)
		if err != nil {
			b.Fatal(err)
		}
		sizes[string(k)] = n
	}
	// waitAll polls until every block has 3 live copies. Until the alive
	// stores hold need blocks between them (a count each store keeps),
	// no block can be back at 3 and none is asked about: the checker
	// asking the stores about every block still short was 6% of the CPU
	// the repair it timed had. Past that, each poll asks only about the
	// blocks still short, and only until it finds 3 copies. (Nothing in
	// this bench drops a copy once made.)
	waitAll := func(alive []*Node, need int64, within time.Duration) time.Duration {
		start := time.Now()
		short := slices.Clone(keys)
		for {
			var held int64
			for _, n := range alive {
				held += n.Store().Stats().Blocks
			}
			if held >= need {
				short = slices.DeleteFunc(short, func(k mh.Multihash) bool { return heldBy(alive, k, 3) })
				if len(short) == 0 {
					return time.Since(start)
				}
			}
			if time.Since(start) > within {
				b.Fatalf("after %v, %d of %d blocks still below 3 live copies", within, len(short), len(keys))
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
	waitAll(nodes, 0, 5*time.Minute)

	// The yardstick: one node fetches the whole file from the adder alone.
	yard := fetchRate(b, nodes[0], res.Root, size)

	// The node holding the most blocks dies without warning.
	victim, most := 1, 0
	for i, n := range nodes[1:] {
		held := 0
		for _, k := range keys {
			if ok, _ := n.Store().Has(cid.NewCidV1(cid.Raw, k)); ok {
				held++
			}
		}
		if held > most {
			victim, most = i+1, held
		}
	}
	var alive []*Node
	before, helpedBefore := map[*Node]int64{}, map[*Node]int64{}
	for i, n := range nodes {
		if i != victim {
			alive = append(alive, n)
			before[n] = n.RepairStats().BytesPushed
			helpedBefore[n] = n.RepairStats().Helped
		}
	}
	// The bytes to repair: blocks left below 3 live copies by the death
	// (a block the victim held may have had a fourth, the adder's pin).
	var endangered, need int64
	short := 0
	for _, k := range keys {
		if h := len(holders(alive, k)); h < 3 {
			endangered += sizes[string(k)]
			short++
			need += int64(3 - h)
		}
	}
	for _, n := range alive {
		need += n.Store().Stats().Blocks
	}
	stopProfile := profileRepair(b)
	b.StartTimer()
	nodes[victim].Close()
	took := waitAll(alive, need, 10*time.Minute)
	b.StopTimer()
	stopProfile()
	repairers := 0
	var pushed, helped int64
	for _, n := range alive {
		if d := n.RepairStats().BytesPushed - before[n]; d > 0 {
			repairers++
			pushed += d
		}
		helped += n.RepairStats().Helped - helpedBefore[n]
	}
	secs := (took - rc.GraceDelay).Seconds()
	rate := float64(endangered) / 1e6 / secs
	b.ReportMetric(rate, "repairMB/s")
	b.ReportMetric(yard, "fetchMB/s")
	b.ReportMetric(float64(repairers), "repairers")
	target := yard / 2
	if bandwidth > 0 {
		target = 0.8 * float64(bandwidth) / 1e6 * float64(repairers)
	}
	fmt.Printf("repair: %d MiB in %d blocks below 3 copies (the dead node held %d), back in %v (grace %v): %.0f MB/s by %d nodes (%d MiB pushed, %d copies by helpers); one-provider fetch %.0f MB/s; target %.0f MB/s: %s\n",
		endangered>>20, short, most, took.Round(time.Millisecond), rc.GraceDelay, rate, repairers, pushed>>20, helped, yard, target,
		map[bool]string{true: "met", false: "NOT MET"}[rate >= target])
}

// heldBy reports whether at least want of the nodes hold k.
func heldBy(nodes []*Node, k mh.Multihash, want int) bool {
	c := cid.NewCidV1(cid.Raw, k)
	for _, n := range nodes {
		if ok, _ := n.Store().Has(c); ok {
			if want--; want == 0 {
				return true
			}
		}
	}
	return false
}

// profileRepair writes a CPU profile of the repair alone (from the death
// until every block is back) to $CAIRN_REPAIR_PROFILE, or an execution
// trace of it (where the repair waits) to $CAIRN_REPAIR_TRACE, if set;
// the returned func stops it.
func profileRepair(b *testing.B) func() {
	if path := os.Getenv("CAIRN_REPAIR_TRACE"); path != "" {
		return recordRepair(b, path, trace.Start, trace.Stop)
	}
	if path := os.Getenv("CAIRN_REPAIR_PROFILE"); path != "" {
		return recordRepair(b, path, pprof.StartCPUProfile, pprof.StopCPUProfile)
	}
	return func() {}
}

// recordRepair starts a recorder (a CPU profile or a trace) into path and
// returns what stops it and closes the file.
func recordRepair(b *testing.B, path string, start func(io.Writer) error, stop func()) func() {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := start(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		stop()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// fetchRate times a fresh node's fetch of root from from alone, in MB/s.
func fetchRate(b *testing.B, from *Node, root cid.Cid, size int64) float64 {
	b.Helper()
	f := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(ReplicationConfig{Disabled: true}))
	defer f.Close()
	link(b, f, from)
	start := time.Now()
	if err := f.Fetch(context.Background(), root, FetchOptions{Providers: []peer.ID{from.ID()}}); err != nil {
		b.Fatal(err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}
