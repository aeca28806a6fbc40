package chunk_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

type vector struct {
	size int64
	gen  string
	cid  string
}

func readVectors(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if fields[0] == "size" || len(fields) < 2 {
			continue
		}
		rows = append(rows, fields)
	}
	return rows
}

func inputFor(t *testing.T, size int64, gen string) *strings.Reader {
	t.Helper()
	switch {
	case gen == "cairn-vector-sha256ctr":
		return strings.NewReader(string(vectorBytes(size)))
	case strings.HasPrefix(gen, "literal:"):
		s := strings.ReplaceAll(strings.TrimPrefix(gen, "literal:"), `\n`, "\n")
		if int64(len(s)) != size {
			t.Fatalf("literal %q is %d bytes, row says %d", s, len(s), size)
		}
		return strings.NewReader(s)
	}
	t.Fatalf("unknown generator %q", gen)
	return nil
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
	f, err := os.ReadFile(filepath.Join("testdata", "vectors", "dagpb.txt"))
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
		res, err := chunk.Add(context.Background(), newVectorReader(size), sink, chunk.AddOptions{})
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
