package chunk_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
)

func dirVectors() string { return filepath.Join(chunktest.VectorsDir(), "dirs") }

// mkTree builds a manifest's tree (chunktest.MakeTree).
func mkTree(t *testing.T, manifest, root string) { chunktest.MakeTree(t, manifest, root) }

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
