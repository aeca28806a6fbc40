package chunk_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
)

func readVectors(t *testing.T, name string) [][]string {
	t.Helper()
	rows, err := chunktest.ReadTable(name)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func inputFor(t *testing.T, size int64, gen string) *bytes.Reader {
	t.Helper()
	b, err := chunktest.Input(size, gen)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func TestAddReproducesKuboCIDv1Vectors(t *testing.T) {
	for _, row := range readVectors(t, "vectors.tsv") {
		size, _ := strconv.ParseInt(row[0], 10, 64)
		if testing.Short() && size > 50<<20 {
			continue
		}
		t.Run(row[0]+"/"+row[1], func(t *testing.T) {
			res, err := chunk.Add(context.Background(), inputFor(t, size, row[1]), nil, chunk.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Root.String(); got != row[2] {
				t.Fatalf("root = %s, kubo says %s", got, row[2])
			}
			if res.Size != uint64(size) {
				t.Fatalf("size = %d, want %d", res.Size, size)
			}
		})
	}
}

func TestAddReproducesKuboBlake3Vectors(t *testing.T) {
	for _, row := range readVectors(t, "vectors-blake3.tsv") {
		size, _ := strconv.ParseInt(row[0], 10, 64)
		res, err := chunk.Add(context.Background(), inputFor(t, size, "cairn-vector-sha256ctr"), nil, chunk.AddOptions{Hash: chunk.BLAKE3})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Root.String(); got != row[1] {
			t.Errorf("size %d: root = %s, kubo says %s", size, got, row[1])
		}
	}
}

// memSink keeps every block, for tests that look at the DAG's bytes.
type memSink struct {
	mu     sync.Mutex
	blocks map[string][]byte
}

func newMemSink() *memSink { return &memSink{blocks: map[string][]byte{}} }

func (m *memSink) PutHashed(c cid.Cid, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[c.KeyString()] = append([]byte(nil), data...)
	return nil
}

func (m *memSink) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blocks[c.KeyString()]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

func TestRootBlocksMatchKuboByteForByte(t *testing.T) {
	want := map[int64]string{}
	var size int64
	f, err := os.ReadFile(filepath.Join(chunktest.VectorsDir(), "dagpb.txt"))
	if err != nil {
		t.Fatal(err)
	}
	mode := ""
	for _, line := range strings.Split(string(f), "\n") {
		if strings.HasPrefix(line, "## vector size=") {
			fs := strings.Fields(line)
			size, _ = strconv.ParseInt(strings.TrimPrefix(fs[2], "size="), 10, 64)
			mode = fs[3]
		}
		if mode == "mode=v1" && strings.HasPrefix(line, "root_block_hex: ") {
			want[size] = strings.TrimPrefix(line, "root_block_hex: ")
		}
	}
	if len(want) != 2 {
		t.Fatalf("parsed %d v1 root blocks from dagpb.txt, want 2", len(want))
	}
	for size, hexRoot := range want {
		sink := newMemSink()
		res, err := chunk.Add(context.Background(), chunktest.VectorReader(size), sink, chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := sink.Get(context.Background(), res.Root)
		if hex.EncodeToString(got) != hexRoot {
			t.Errorf("size %d: root block\n got %x\nwant %s", size, got, hexRoot)
		}
		// Every block the sink got decodes (dag-pb) or is a leaf, and matches its CID.
		for k, b := range sink.blocks {
			c, _ := cid.Cast([]byte(k))
			if err := chunk.Verify(c, b); err != nil {
				t.Errorf("block %s: %v", c, err)
			}
		}
	}
}
