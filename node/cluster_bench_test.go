package node

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkPinSetOf100kPins puts 100,000 pins in the set on one node
// (in batches, as a migration does) and measures what a second node pays
// to hold them: the time until its set has them all, the Go heap both
// nodes hold more afterwards (the set lives in goleveldb, not in memory),
// and how long listing the set takes there.
func BenchmarkPinSetOf100kPins(b *testing.B) {
	const pins = 100_000
	for range b.N {
		writer := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(ReplicationConfig{Disabled: true}))
		reader := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(ReplicationConfig{Disabled: true}))
		link(b, writer, reader)
		ctx := context.Background()
		before := heapInUse()
		start := time.Now()
		batch := make([]pinset.Pin, 0, 1000)
		for i := range pins {
			h, err := mh.Sum(binary.BigEndian.AppendUint64(nil, uint64(i)), mh.SHA2_256, -1)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, pinset.Pin{Root: cid.NewCidV1(cid.Raw, h), Name: "file", By: writer.ID(), At: time.Now(), Bytes: 1000})
			if len(batch) == cap(batch) {
				if err := writer.pins.AddMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		wrote := time.Since(start)
		count := func(n *Node) int {
			c := 0
			if err := n.ClusterPins(ctx, func(ClusterPin) error { c++; return nil }); err != nil {
				b.Fatal(err)
			}
			return c
		}
		for count(reader) < pins {
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("the reader has %d of %d pins after 10 minutes", count(reader), pins)
			}
			time.Sleep(100 * time.Millisecond) // poll interval
		}
		synced := time.Since(start)
		for !writer.indexIdle() || !reader.indexIdle() {
			time.Sleep(100 * time.Millisecond) // poll interval
		}
		indexed := time.Since(start)
		heap := float64(int64(heapInUse())-int64(before)) / (1 << 20)
		lsStart := time.Now()
		if got := count(reader); got != pins {
			b.Fatalf("listed %d pins, want %d", got, pins)
		}
		ls := time.Since(lsStart)
		b.ReportMetric(wrote.Seconds(), "s-write")
		b.ReportMetric(synced.Seconds(), "s-synced")
		b.ReportMetric(indexed.Seconds(), "s-indexed")
		b.ReportMetric(heap, "MiB-heap-2-nodes")
		b.ReportMetric(ls.Seconds(), "s-list")
	}
}

// BenchmarkUnpinFreesAGiB adds 1 GiB on one of four nodes (R=3), waits
// for its copies, unpins it on another node and measures how long until
// no node holds any of its blocks, against the grace and sweep interval.
func BenchmarkUnpinFreesAGiB(b *testing.B) {
	const size = 1 << 30
	for range b.N {
		var nodes []*Node
		for range 4 {
			nodes = append(nodes, startNodeWith(b, b.TempDir(), store.Options{}, withReplication(fastRepair), func(c *Config) {
				c.Cluster.UnpinGrace = time.Second
				c.Cluster.SweepInterval = time.Second
			}))
		}
		for i, x := range nodes {
			for _, y := range nodes[i+1:] {
				link(b, x, y)
			}
		}
		ctx := context.Background()
		res, err := nodes[0].Add(ctx, io.LimitReader(rand.NewChaCha8([32]byte{1}), size), chunk.AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		keys := dagKeys(b, nodes[0], res.Root)
		held := func() (copies int) {
			for _, k := range keys {
				copies += len(holders(nodes, k))
			}
			return copies
		}
		for held() < 3*len(keys) {
			time.Sleep(100 * time.Millisecond) // poll interval
		}
		used := usedBytes(nodes)
		start := time.Now()
		if err := nodes[3].UnpinCluster(ctx, res.Root); err != nil {
			b.Fatal(err)
		}
		// Polled by the stores' counts (cheap), not block by block: the
		// poll must not slow the deletes it waits for.
		for usedBytes(nodes) > 0 {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d copies of the file's blocks left 5 minutes after the unpin", held())
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
		if left := held(); left > 0 {
			b.Fatalf("%d copies of the file's blocks left", left)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-freed")
		b.ReportMetric(float64(used-usedBytes(nodes))/(1<<20), "MiB-freed")
		for _, n := range nodes {
			n.Close()
		}
	}
}
