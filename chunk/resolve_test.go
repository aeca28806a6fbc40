package chunk_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// addedTree is a vector tree on disk, added with AddDir into a sink that
// is also a BlockGetter, with what AddDir gives for each path added alone.
type addedTree struct {
	dir    string // the tree's root on disk
	root   cid.Cid
	sink   *memSink
	want   map[string]chunk.DirResult // slash path ("" for the root) -> AddDir of it alone
	isDir  map[string]bool
	hidden bool
}

func addVectorTree(t *testing.T, manifest string, hidden bool) *addedTree {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, manifest, dir)
	opts := chunk.DirOptions{Hidden: hidden, Workers: 1}
	tr := &addedTree{dir: dir, sink: newMemSink(), want: map[string]chunk.DirResult{}, isDir: map[string]bool{}, hidden: hidden}
	res, err := chunk.AddDir(context.Background(), dir, tr.sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr.root = res.Root
	// WalkDir does not follow symlinks, as AddDir does not.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		if !hidden && strings.HasPrefix(d.Name(), ".") && rel != "" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		r, err := chunk.AddDir(context.Background(), p, nil, opts)
		if err != nil {
			return err
		}
		tr.want[rel] = r
		tr.isDir[rel] = d.IsDir()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.want[""].Root != tr.root {
		t.Fatalf("root %s, AddDir of it alone %s", tr.root, tr.want[""].Root)
	}
	return tr
}

// diskNames lists the names of directory rel on disk as AddDir sees them.
func (tr *addedTree) diskNames(t *testing.T, rel string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(tr.dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		if tr.hidden || !strings.HasPrefix(d.Name(), ".") {
			names = append(names, d.Name())
		}
	}
	slices.Sort(names)
	return names
}

func TestResolveAndListDirMatchAddDir(t *testing.T) {
	for _, tc := range []struct {
		manifest string
		hidden   bool
		slow     bool
	}{
		{"small.tsv", false, false},
		{"small.tsv", true, false},
		{"links.tsv", false, false},
		{"edge-over.tsv", false, true}, // a HAMT of 4097 entries
	} {
		name := strings.TrimSuffix(tc.manifest, ".tsv")
		if tc.hidden {
			name += "-hidden"
		}
		t.Run(name, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("adds thousands of files one by one")
			}
			tr := addVectorTree(t, tc.manifest, tc.hidden)
			ctx := context.Background()
			for rel, want := range tr.want {
				got, err := chunk.Resolve(ctx, tr.sink, tr.root, rel)
				if err != nil || got != want.Root {
					t.Errorf("Resolve(%q) = %s, %v; AddDir of it gives %s", rel, got, err, want.Root)
				}
				if !tr.isDir[rel] {
					continue
				}
				if got, err := chunk.Resolve(ctx, tr.sink, tr.root, rel+"/"); err != nil || got != want.Root {
					t.Errorf("Resolve(%q) = %s, %v; want %s", rel+"/", got, err, want.Root)
				}
				var names []string
				err = chunk.ListDir(ctx, tr.sink, want.Root, func(e chunk.DirEntry) error {
					names = append(names, e.Name)
					child := strings.TrimPrefix(rel+"/"+e.Name, "/")
					if w := tr.want[child]; e.CID != w.Root || e.Tsize != w.Tsize {
						t.Errorf("ListDir(%q): %s = %s (Tsize %d), AddDir gives %s (%d)", rel, e.Name, e.CID, e.Tsize, w.Root, w.Tsize)
					}
					return nil
				})
				if err != nil {
					t.Errorf("ListDir(%q): %v", rel, err)
				}
				if disk := tr.diskNames(t, rel); !slices.Equal(names, disk) {
					t.Errorf("ListDir(%q) = %q, on disk %q", rel, names, disk)
				}
			}
			t.Logf("%d paths resolved", len(tr.want))
		})
	}
}

func TestResolveErrors(t *testing.T) {
	small := addVectorTree(t, "small.tsv", false)
	links := addVectorTree(t, "links.tsv", false)
	for _, tc := range []struct {
		tree *addedTree
		path string
		want error
	}{
		{small, "missing", chunk.ErrNoSuchEntry},
		{small, "docs/missing", chunk.ErrNoSuchEntry},
		{small, ".hidden", chunk.ErrNoSuchEntry}, // added without --hidden
		{small, "readme.txt/x", chunk.ErrNotDir},
		{small, "big.bin/x", chunk.ErrNotDir}, // a dag-pb file, not a raw leaf
		{small, "docs/guide.txt/x/y", chunk.ErrNotDir},
		{small, "photos/x", chunk.ErrNoSuchEntry}, // an empty directory
		{small, ".", chunk.ErrNoSuchEntry},
		{small, "docs/..", chunk.ErrNoSuchEntry},
		{small, "docs/../readme.txt", chunk.ErrNoSuchEntry},
		{small, "docs//guide.txt", chunk.ErrNoSuchEntry},
		{small, "/readme.txt", chunk.ErrNoSuchEntry},
		{small, "docs/guide.txt\x00", chunk.ErrNoSuchEntry},
		{links, "to-docs/guide.txt", chunk.ErrNotDir}, // symlinks are not followed
		{links, "dangling/x", chunk.ErrNotDir},
	} {
		_, err := chunk.Resolve(context.Background(), tc.tree.sink, tc.tree.root, tc.path)
		if !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.path, err, tc.want)
		}
	}
	for _, rel := range []string{"readme.txt", "big.bin", "docs/empty.txt"} {
		err := chunk.ListDir(context.Background(), small.sink, small.want[rel].Root, func(chunk.DirEntry) error { return nil })
		if !errors.Is(err, chunk.ErrNotDir) {
			t.Errorf("ListDir(%s) = %v, want ErrNotDir", rel, err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := chunk.ListDir(context.Background(), small.sink, small.root, func(chunk.DirEntry) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("ListDir with fn failing = %v after %d calls, want fn's error after 1", err, n)
	}
}

// blockCounter counts every block read (countingGetter counts leaves).
type blockCounter struct {
	chunk.BlockGetter
	n atomic.Int64
}

func (g *blockCounter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	g.n.Add(1)
	return g.BlockGetter.Get(ctx, c)
}

func TestResolveInHAMTReadsOnlyThePath(t *testing.T) {
	if testing.Short() {
		t.Skip("adds thousands of files")
	}
	dir := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "edge-over.tsv", dir)
	sink := newMemSink()
	res, err := chunk.AddDir(context.Background(), dir, sink, chunk.DirOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := &blockCounter{BlockGetter: sink}
	for _, name := range []string{"e000000000000000000000000000", "e000000000000000000000004096", "nope"} {
		g.n.Store(0)
		_, err := chunk.Resolve(context.Background(), g, res.Root, "edge/"+name)
		if name == "nope" {
			if !errors.Is(err, chunk.ErrNoSuchEntry) {
				t.Errorf("edge/nope: %v, want ErrNoSuchEntry", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		// The root, the shard's root and at most a sub-shard or two, of
		// the thousands of blocks in the sink.
		if n := g.n.Load(); n > 4 {
			t.Errorf("edge/%s: %d blocks read of %d", name, n, len(sink.blocks))
		}
	}
}

func TestStatDAGOfDirectoriesAndSymlinks(t *testing.T) {
	small := addVectorTree(t, "small.tsv", false)
	links := addVectorTree(t, "links.tsv", false)
	for _, tc := range []struct {
		tree   *addedTree
		path   string
		typ    string
		size   uint64
		target string
		links  int
	}{
		{small, "", "directory", 0, "", 4}, // big.bin, docs, photos, readme.txt
		{small, "docs", "directory", 0, "", 3},
		{small, "photos", "directory", 0, "", 0},
		{small, "readme.txt", "raw", 1000, "", 0},
		{small, "big.bin", "file", 1048576, "", 4},
		{small, "docs/empty.txt", "raw", 0, "", 0},
		{links, "to-guide", "symlink", 0, "docs/guide.txt", 0},
		{links, "dangling", "symlink", 0, "nowhere/at/all", 0},
	} {
		want := tc.tree.want[tc.path]
		g := &blockCounter{BlockGetter: tc.tree.sink}
		st, err := chunk.StatDAG(context.Background(), g, want.Root)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if st.CID != want.Root || st.RootType != tc.typ || st.Size != tc.size || st.Target != tc.target || st.Links != tc.links {
			t.Errorf("%s: %+v, want type %s, size %d, target %q, %d links", tc.path, st, tc.typ, tc.size, tc.target, tc.links)
		}
		// The parent's Tsize is the same sum of the root's bytes and its
		// links' Tsize.
		if st.Cumulative != want.Tsize {
			t.Errorf("%s: cumulative %d, AddDir's Tsize %d", tc.path, st.Cumulative, want.Tsize)
		}
		if g.n.Load() != 1 {
			t.Errorf("%s: %d blocks read, want the root only", tc.path, g.n.Load())
		}
		if tc.typ == "directory" || tc.typ == "symlink" {
			if _, err := chunk.NewReader(context.Background(), tc.tree.sink, want.Root); !errors.Is(err, chunk.ErrNotFile) {
				t.Errorf("%s: NewReader = %v, want ErrNotFile", tc.path, err)
			}
		}
	}
}
