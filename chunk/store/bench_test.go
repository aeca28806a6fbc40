package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

func benchBlocks(b *testing.B, n int) ([]cid.Cid, [][]byte) {
	b.Helper()
	rng := rand.New(rand.NewSource(1))
	cids := make([]cid.Cid, n)
	datas := make([][]byte, n)
	for i := range cids {
		datas[i] = make([]byte, chunk.ChunkSize)
		rng.Read(datas[i])
		cids[i], _ = chunk.NewCID(chunk.SHA2_256, cid.Raw, datas[i])
	}
	return cids, datas
}

// BenchmarkPutHashed appends 256 KiB blocks (page cache; commits every
// 64 MiB as in use).
func BenchmarkPutHashed(b *testing.B) {
	s, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cids, datas := benchBlocks(b, b.N)
	b.SetBytes(chunk.ChunkSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.PutHashed(cids[i], datas[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGet reads 256 KiB blocks back with their CRC checked.
func BenchmarkGet(b *testing.B) {
	s, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cids, datas := benchBlocks(b, 256)
	for i := range cids {
		s.PutHashed(cids[i], datas[i])
	}
	s.Sync()
	b.SetBytes(chunk.ChunkSize)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(context.Background(), cids[i%len(cids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkSmallSyncs has 1 and 16 writers each put a distinct 1 KiB
// block and Sync it with a meta record, as small adds do: the group
// commit's ceiling for them. b.N is the number of Syncs.
func BenchmarkSmallSyncs(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					data := make([]byte, 1024)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						binary.BigEndian.PutUint64(data, uint64(i))
						c, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
						if err := s.PutHashed(c, data); err != nil {
							errs <- err
							return
						}
						if err := s.Sync(store.Meta{Key: append([]byte("pin/"), c.Bytes()...), Value: []byte{1}}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
