package chunk_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
)

func dirVectors() string { return filepath.Join(chunktest.VectorsDir(), "dirs") }

// mkTree builds the tree a manifest of ../testdata/vectors/dirs describes,
// as mktree.py does: "PATH\tSIZE" is a file of the first SIZE bytes of the
// vector stream, "PATH\t-> TARGET" a symlink, "PATH/" an empty directory.
func mkTree(t *testing.T, manifest, root string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dirVectors(), manifest))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type file struct {
		path string
		size int
	}
	var files []file
	maxSize := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "/") {
			if err := os.MkdirAll(filepath.Join(root, line), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		path, spec, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", manifest, line)
		}
		full := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(spec, "-> "); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		size, err := strconv.Atoi(spec)
		if err != nil {
			t.Fatalf("%s: bad size in %q", manifest, line)
		}
		files = append(files, file{full, size})
		maxSize = max(maxSize, size)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Every file is a prefix of the same stream: generate it once.
	stream := chunktest.VectorBytes(int64(maxSize))
	for _, fl := range files {
		if err := os.WriteFile(fl.path, stream[:fl.size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddDirReproducesKuboVectors(t *testing.T) {
	trees := map[string]string{} // manifest -> built tree, shared by its rows
	tmp := t.TempDir()
	for _, row := range readDirTable(t, "dirs.tsv") {
		manifest, flags, want := row[0], row[1], row[2]
		t.Run(strings.TrimSuffix(manifest, ".tsv")+flags, func(t *testing.T) {
			if testing.Short() && manifest != "small.tsv" && manifest != "links.tsv" {
				t.Skip("thousands of files: make test-vectors runs it without -short")
			}
			root, ok := trees[manifest]
			if !ok {
				// In the parent's TempDir: the tree outlives this subtest
				// for the manifest's other rows.
				root = filepath.Join(tmp, strings.TrimSuffix(manifest, ".tsv"), "DIR")
				mkTree(t, manifest, root)
				trees[manifest] = root
			}
			opts := chunk.DirOptions{Hidden: strings.Contains(flags, "--hidden"), Workers: 1}
			sink := newMemSink()
			start := time.Now()
			res, err := chunk.AddDir(context.Background(), root, sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Root.String(); got != want {
				t.Fatalf("root = %s, kubo says %s", got, want)
			}
			t.Logf("%d files, %d dirs, %d symlinks, %d bytes, %d blocks in %v",
				res.Files, res.Dirs, res.Symlinks, res.Bytes, res.Blocks, time.Since(start))
			// Every block made is well formed and decodes, HAMT shards,
			// symlinks and directories included.
			for k, b := range sink.blocks {
				c, _ := cid.Cast([]byte(k))
				if err := chunk.Verify(c, b); err != nil {
					t.Errorf("block %s: %v", c, err)
				}
			}
		})
	}
}

func readDirTable(t *testing.T, name string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dirVectors(), name))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || f[0] == "manifest" {
			continue
		}
		rows = append(rows, f)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

// TestAddDirEveryIntermediateCID checks every file and directory of the
// small tree against kubo's full output, by adding each path on its own
// (AddDir takes a file as root too), so a mismatch shows where it starts.
func TestAddDirEveryIntermediateCID(t *testing.T) {
	root := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "small.tsv", root)
	for _, tc := range []struct {
		list   string
		hidden bool
	}{{"small-every-cid.txt", false}, {"small-hidden-every-cid.txt", true}} {
		b, err := os.ReadFile(filepath.Join(dirVectors(), tc.list))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line) // added CID PATH
			if len(f) != 3 || f[0] != "added" {
				t.Fatalf("%s: bad line %q", tc.list, line)
			}
			path := filepath.Join(filepath.Dir(root), filepath.FromSlash(f[2]))
			res, err := chunk.AddDir(context.Background(), path, nil, chunk.DirOptions{Hidden: tc.hidden, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Root.String(); got != f[1] {
				t.Errorf("%s (hidden=%v) = %s, kubo says %s", f[2], tc.hidden, got, f[1])
			}
			n++
		}
		t.Logf("%s: %d paths checked", tc.list, n)
	}
}

func TestAddDirCountsAndProgress(t *testing.T) {
	root := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "small.tsv", root)
	var last chunk.DirProgress
	calls := 0
	res, err := chunk.AddDir(context.Background(), root, nil, chunk.DirOptions{
		Workers: 1,
		Progress: func(p chunk.DirProgress) {
			if p.Files < last.Files || p.Bytes < last.Bytes {
				t.Errorf("progress went back: %+v after %+v", p, last)
			}
			last = p
			calls++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// small.tsv without dotfiles: 5 files (one empty), 5 directories
	// (DIR, docs, docs/deep, docs/deep/nested, photos), no symlinks.
	wantBytes := uint64(1000 + 262145 + 0 + 300000 + 1048576)
	if res.Files != 5 || res.Dirs != 5 || res.Symlinks != 0 || res.Bytes != wantBytes {
		t.Errorf("result %+v, want 5 files, 5 dirs, 0 symlinks, %d bytes", res, wantBytes)
	}
	if last.Files != res.Files || last.Bytes != res.Bytes || calls < res.Files {
		t.Errorf("last progress %+v after %d calls, result %+v", last, calls, res)
	}
}

func TestAddDirCancelled(t *testing.T) {
	root := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "small.tsv", root)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := chunk.AddDir(ctx, root, nil, chunk.DirOptions{}); err == nil {
		t.Fatal("AddDir with a cancelled context succeeded")
	}
}
