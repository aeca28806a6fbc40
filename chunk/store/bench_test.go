package store_test

import (
	"context"
	"math/rand"
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
