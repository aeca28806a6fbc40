package chunk_test

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk"
)

// BenchmarkAdd measures chunking, hashing (on all cores) and DAG building
// with no store behind it: the CPU side of `cairn add`.
func BenchmarkAdd(b *testing.B) {
	for _, h := range []chunk.HashFunc{chunk.SHA2_256, chunk.BLAKE3} {
		b.Run(h.String(), func(b *testing.B) {
			data := make([]byte, 64<<20)
			rand.New(rand.NewSource(1)).Read(data)
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := chunk.Add(context.Background(), bytes.NewReader(data), nil, chunk.AddOptions{Hash: h}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead measures a sequential read of a 64 MiB file from memory.
func BenchmarkRead(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.New(rand.NewSource(1)).Read(data)
	sink := newMemSink()
	res, err := chunk.Add(context.Background(), bytes.NewReader(data), sink, chunk.AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := chunk.NewReader(context.Background(), sink, res.Root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
