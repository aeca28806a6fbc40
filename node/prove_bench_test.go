package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
)

// BenchmarkReplicatedAdd adds a 64 MiB file on one of three loopback
// nodes with R=W=2: every block pushed, and (since proofs of possession)
// proved, before Add returns. Run it on the commit before the proofs for
// their cost on the write path.
func BenchmarkReplicatedAdd(b *testing.B) {
	const size = 64 << 20
	rc := ReplicationConfig{Factor: 2, WriteQuorum: 2} // no background copies to overlap the next add
	var nodes []*Node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, startNodeWith(b, b.TempDir(), store.Options{}, withReplication(rc)))
	}
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			link(b, a, c)
		}
	}
	data := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rand.NewChaCha8([32]byte{byte(i)}).Read(data)
		b.StartTimer()
		res, err := nodes[0].Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
		if err != nil || res.Copies < 2 {
			b.Fatalf("add: %d copies, %v", res.Copies, err)
		}
	}
}

// BenchmarkChallenge proves 64 blocks of 256 KiB held by a peer (one
// PROVE request): the cost of an audit, both ends' reads and hashes.
func BenchmarkChallenge(b *testing.B) {
	rc := ReplicationConfig{Factor: 2, WriteQuorum: 2}
	a := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(rc))
	c := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(rc))
	link(b, a, c)
	data := make([]byte, 64*chunk.ChunkSize)
	rand.NewChaCha8([32]byte{9}).Read(data)
	res, err := a.Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil || res.Copies < 2 {
		b.Fatalf("add: %d copies, %v", res.Copies, err)
	}
	keys := dagKeys(b, a, res.Root)[:64]
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vs := a.rep.challenge(context.Background(), c.ID(), keys, false, nil, a.rep.ownProof)
		for _, v := range vs {
			if v != proved {
				b.Fatalf("verdict %s", v)
			}
		}
	}
}

// BenchmarkSmallAdds adds distinct 1 KiB files on a lone node (W=1) from
// 16 goroutines: the node's share of BenchmarkIngest1KiB in cmd/cairn,
// without HTTP.
func BenchmarkSmallAdds(b *testing.B) {
	n := startNodeWith(b, b.TempDir(), store.Options{}, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	var seq atomic.Uint64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		body := make([]byte, 1024)
		for pb.Next() {
			binary.BigEndian.PutUint64(body, seq.Add(1))
			if _, err := n.Add(context.Background(), bytes.NewReader(body), chunk.AddOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "adds/s")
}
