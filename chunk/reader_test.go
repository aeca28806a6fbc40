package chunk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
)

func addBytes(t *testing.T, data []byte) (*memSink, chunk.AddResult) {
	t.Helper()
	sink := newMemSink()
	res, err := chunk.Add(context.Background(), bytes.NewReader(data), sink, chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sink, res
}

func TestAddThenReadReturnsIdenticalBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	random := make([]byte, 3*chunk.ChunkSize+12345)
	rng.Read(random)
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{42}},
		{"chunk minus one", chunktest.VectorBytes(chunk.ChunkSize - 1)},
		{"exactly one chunk", chunktest.VectorBytes(chunk.ChunkSize)},
		{"chunk plus one", chunktest.VectorBytes(chunk.ChunkSize + 1)},
		{"random", random},
		{"two levels", chunktest.VectorBytes(chunk.MaxLinks*chunk.ChunkSize + 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink, res := addBytes(t, tc.data)
			r, err := chunk.NewReader(context.Background(), sink, res.Root)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != uint64(len(tc.data)) {
				t.Fatalf("Size = %d, want %d", r.Size(), len(tc.data))
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("read back %d bytes that differ from the %d added", len(got), len(tc.data))
			}
			var n int
			if err := chunk.WalkCIDs(context.Background(), sink, res.Root, func(cid.Cid) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != res.Blocks {
				t.Fatalf("walk saw %d blocks, add made %d", n, res.Blocks)
			}
		})
	}
}

// countingGetter counts the leaves fetched, to show a range read touches
// only the leaves it needs.
type countingGetter struct {
	chunk.BlockGetter
	leaves int
}

func (g *countingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c.Type() == cid.Raw {
		g.leaves++
	}
	return g.BlockGetter.Get(ctx, c)
}

func TestRangeReadReturnsExactlyTheRequestedBytes(t *testing.T) {
	data := chunktest.VectorBytes(chunk.MaxLinks*chunk.ChunkSize + 3*chunk.ChunkSize + 17)
	sink, res := addBytes(t, data)
	cs := int64(chunk.ChunkSize)
	cases := []struct {
		name     string
		off, n   int64
		maxLeafs int
	}{
		{"first byte", 0, 1, 1},
		{"across a chunk boundary", cs - 10, 20, 2},
		{"across a subtree boundary", chunk.MaxLinks*cs - 5, 10, 2},
		{"inside the last short leaf", int64(len(data)) - 7, 7, 1},
		{"middle of a leaf", 100*cs + 1000, 5000, 1},
		{"three chunks", 5*cs + 1, 2 * cs, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &countingGetter{BlockGetter: sink}
			r, err := chunk.NewReader(context.Background(), g, res.Root)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Seek(tc.off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, tc.n)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
				t.Fatalf("bytes [%d, %d) differ", tc.off, tc.off+tc.n)
			}
			if g.leaves > tc.maxLeafs {
				t.Fatalf("read %d leaves for a range that spans %d", g.leaves, tc.maxLeafs)
			}
		})
	}
}

func TestReaderAtEndAndPastEndGivesEOF(t *testing.T) {
	data := chunktest.VectorBytes(2*chunk.ChunkSize + 5)
	sink, res := addBytes(t, data)
	r, _ := chunk.NewReader(context.Background(), sink, res.Root)
	for _, off := range []int64{int64(len(data)), int64(len(data)) + 100} {
		r.Seek(off, io.SeekStart)
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("read at %d = %d, %v; want 0, EOF", off, n, err)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek to -1 succeeded")
	}
}

type failingSink struct{ after int }

func (f *failingSink) PutHashed(cid.Cid, []byte) error {
	if f.after--; f.after < 0 {
		return errors.New("disk on fire")
	}
	return nil
}

func TestAddReportsSinkFailureInsteadOfARoot(t *testing.T) {
	_, err := chunk.Add(context.Background(), bytes.NewReader(chunktest.VectorBytes(20*chunk.ChunkSize)), &failingSink{after: 5}, chunk.AddOptions{Workers: 1})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk on fire")) {
		t.Fatalf("Add = %v, want the sink's error", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("unreadable sector")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	f.n -= len(p)
	return len(p), nil
}

// The sizes take both ways through Add: a file within its first chunk is
// added on the caller's goroutine, a longer one through the pipeline.
var addPathSizes = []int{0, 1, 1024, chunk.ChunkSize - 1, chunk.ChunkSize, chunk.ChunkSize + 1, 3 * chunk.ChunkSize}

func TestAddReportsReadFailure(t *testing.T) {
	for _, n := range addPathSizes {
		_, err := chunk.Add(context.Background(), &failingReader{n: n}, nil, chunk.AddOptions{})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("unreadable sector")) {
			t.Fatalf("Add of %d bytes then a failure = %v, want the read error", n, err)
		}
	}
}

func TestAddStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, n := range addPathSizes {
		if _, err := chunk.Add(ctx, bytes.NewReader(chunktest.VectorBytes(int64(n))), nil, chunk.AddOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Add of %d bytes after cancel = %v, want context.Canceled", n, err)
		}
	}
}

func TestAddOfOneChunkReportsItsProgressAndOneBlock(t *testing.T) {
	for _, n := range []int{0, 1024, chunk.ChunkSize} {
		var done uint64
		res, err := chunk.Add(context.Background(), bytes.NewReader(chunktest.VectorBytes(int64(n))), nil, chunk.AddOptions{Progress: func(d uint64) { done = d }})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, chunktest.VectorBytes(int64(n)))
		if res.Root != want || res.Blocks != 1 || res.Size != uint64(n) || res.Tsize != uint64(n) || done != uint64(n) {
			t.Fatalf("Add of %d bytes = %+v (progress %d), want the raw leaf %s, 1 block, %d bytes", n, res, done, want, n)
		}
	}
}

func TestDecodeNodeRejectsGarbageWithoutPanicking(t *testing.T) {
	sink, res := addBytes(t, chunktest.VectorBytes(3*chunk.ChunkSize))
	node, _ := sink.Get(context.Background(), res.Root)
	for i := 0; i < len(node); i++ {
		if _, err := chunk.DecodeNode(node[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: decoded without error", i)
		}
	}
	rng := rand.New(rand.NewSource(9))
	for i := 0; i < 2000; i++ {
		b := append([]byte(nil), node...)
		b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
		chunk.DecodeNode(b) // must not panic
	}
}

func FuzzDecodeNode(f *testing.F) {
	sink := newMemSink()
	res, _ := chunk.Add(context.Background(), bytes.NewReader(chunktest.VectorBytes(2*chunk.ChunkSize)), sink, chunk.AddOptions{})
	node, _ := sink.Get(context.Background(), res.Root)
	f.Add(node)
	f.Fuzz(func(t *testing.T, b []byte) {
		chunk.DecodeNode(b)
	})
}

func TestAddReturnsOnCancelWhileTheInputBlocks(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close() // lets the reader goroutine's Read return at the end
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		pw.Write(make([]byte, chunk.ChunkSize+10)) // then the input stalls
		cancel()
	}()
	if _, err := chunk.Add(ctx, pr, nil, chunk.AddOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add = %v, want context.Canceled", err)
	}
}

func TestStatCountsRepeatedBlocksOnce(t *testing.T) {
	// A file of zeros repeats one leaf and one full inner node.
	sink, res := addBytes(t, make([]byte, 2*chunk.MaxLinks*chunk.ChunkSize+5))
	var n int
	if err := chunk.WalkCIDs(context.Background(), sink, res.Root, func(cid.Cid) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	// root, the repeated full node, its leaf, the last partial node and its short leaf
	if n != 5 || n != len(sink.blocks) {
		t.Fatalf("walk saw %d blocks, the sink holds %d distinct, want 5", n, len(sink.blocks))
	}
}
