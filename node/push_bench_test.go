package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// BenchmarkPushToOnePeer pushes 1,024 chunks (256 MiB), pushConcurrency
// at a time, from one node to another on loopback, each acknowledged once
// durable there: the repair and write paths' raw rate to one peer,
// through the node's push queue (batched).
func BenchmarkPushToOnePeer(b *testing.B) {
	// PeerRate out of the way: the receiver's limit on one peer (256 MiB/s
	// by default) is not what is measured.
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 1, GraceDelay: time.Minute, Interval: time.Hour, PeerRate: 1 << 40}
	from := startNodeWith(b, b.TempDir(), store.Options{WrittenCache: 1 << 30}, withReplication(rc))
	to := startNodeWith(b, b.TempDir(), store.Options{WrittenCache: 1 << 30}, withReplication(rc))
	link(b, from, to)
	for !from.client.Batches(to.ID()) {
		time.Sleep(10 * time.Millisecond) // identify is on its way
	}
	rng := rand.NewChaCha8([32]byte{3})
	blocks := make([][]byte, 1024)
	cids := make([]cid.Cid, len(blocks))
	for i := range blocks {
		blocks[i] = make([]byte, chunk.ChunkSize)
		rng.Read(blocks[i])
		h, err := mh.Sum(blocks[i], mh.SHA2_256, -1)
		if err != nil {
			b.Fatal(err)
		}
		cids[i] = cid.NewCidV1(cid.Raw, h)
	}
	b.SetBytes(int64(len(blocks) * chunk.ChunkSize))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, c := range cids {
			if err := to.Store().Delete(c); err != nil && !errors.Is(err, store.ErrNotFound) {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var failed atomic.Int64
		sem := make(chan struct{}, pushConcurrency)
		var wg sync.WaitGroup
		for i := range blocks {
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				if err := from.pushes.push(context.Background(), to.ID(), cids[i], blocks[i]); err != nil {
					failed.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d of %d pushes failed", n, len(blocks))
		}
	}
}
