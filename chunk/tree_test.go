package chunk_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
)

// memNode is a tree a manifest describes, held in memory.
type memNode struct {
	kind   chunk.EntryKind
	size   int    // file
	target string // symlink
	kids   map[string]*memNode
}

// readManifest parses a manifest of ../testdata/vectors/dirs (see mkTree)
// into a tree and returns it with the largest file size.
func readManifest(t *testing.T, manifest string) (*memNode, int) {
	t.Helper()
	f, err := os.Open(filepath.Join(dirVectors(), manifest))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := &memNode{kind: chunk.EntryDir, kids: map[string]*memNode{}}
	// mkdirs returns the directory at the given components, making the
	// missing ones as MkdirAll does.
	mkdirs := func(parts []string) *memNode {
		n := root
		for _, p := range parts {
			k, ok := n.kids[p]
			if !ok {
				k = &memNode{kind: chunk.EntryDir, kids: map[string]*memNode{}}
				n.kids[p] = k
			}
			n = k
		}
		return n
	}
	maxSize := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if dir, ok := strings.CutSuffix(line, "/"); ok {
			mkdirs(strings.Split(dir, "/"))
			continue
		}
		path, spec, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", manifest, line)
		}
		parts := strings.Split(path, "/")
		parent, name := mkdirs(parts[:len(parts)-1]), parts[len(parts)-1]
		if target, ok := strings.CutPrefix(spec, "-> "); ok {
			parent.kids[name] = &memNode{kind: chunk.EntrySymlink, target: target}
			continue
		}
		size, err := strconv.Atoi(spec)
		if err != nil {
			t.Fatalf("%s: bad size in %q", manifest, line)
		}
		parent.kids[name] = &memNode{kind: chunk.EntryFile, size: size}
		maxSize = max(maxSize, size)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return root, maxSize
}

// shuffledEntries lists the tree depth-first as a TreeReader must, siblings
// in an order drawn from rng (not the sorted one DiskTree gives), dotfiles
// dropped unless hidden. File bodies are prefixes of stream.
func shuffledEntries(root *memNode, stream []byte, hidden bool, rng *rand.Rand) []chunk.TreeEntry {
	var out []chunk.TreeEntry
	var walk func(path string, n *memNode)
	walk = func(path string, n *memNode) {
		e := chunk.TreeEntry{Path: path, Kind: n.kind, Target: n.target}
		if n.kind == chunk.EntryFile {
			e.Body = bytes.NewReader(stream[:n.size])
		}
		out = append(out, e)
		var names []string
		for name := range n.kids {
			if hidden || !strings.HasPrefix(name, ".") {
				names = append(names, name)
			}
		}
		slices.Sort(names) // map order is not rng's to decide
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for _, name := range names {
			p := name
			if path != "" {
				p = path + "/" + name
			}
			walk(p, n.kids[name])
		}
	}
	walk("", root)
	return out
}

// sliceTree is a TreeReader over entries in memory. It also checks the
// contract AddTree owes readers: a file's body is read to EOF before Next.
type sliceTree struct {
	t    *testing.T
	ents []chunk.TreeEntry
	i    int
}

func (s *sliceTree) Next() (chunk.TreeEntry, error) {
	if s.i > 0 {
		if br, ok := s.ents[s.i-1].Body.(*bytes.Reader); ok && br.Len() != 0 {
			s.t.Errorf("%q: Next with %d body bytes unread", s.ents[s.i-1].Path, br.Len())
		}
	}
	if s.i == len(s.ents) {
		return chunk.TreeEntry{}, io.EOF
	}
	s.i++
	return s.ents[s.i-1], nil
}

// TestAddTreeMatchesAddDir feeds the vector trees as in-memory streams with
// shuffled siblings: the result must be AddDir's on the same tree on disk,
// and the root kubo's.
func TestAddTreeMatchesAddDir(t *testing.T) {
	tmp := t.TempDir()
	for _, row := range readDirTable(t, "dirs.tsv") {
		manifest, flags, want := row[0], row[1], row[2]
		switch manifest {
		case "small.tsv", "links.tsv", "edge-over.tsv":
		default:
			continue
		}
		t.Run(strings.TrimSuffix(manifest, ".tsv")+flags, func(t *testing.T) {
			if testing.Short() && manifest == "edge-over.tsv" {
				t.Skip("thousands of files: make test-vectors runs it without -short")
			}
			hidden := strings.Contains(flags, "--hidden")
			opts := chunk.DirOptions{Hidden: hidden, Workers: 1}
			root := filepath.Join(tmp, strings.TrimSuffix(manifest, ".tsv")+flags, "DIR")
			mkTree(t, manifest, root)
			disk, err := chunk.AddDir(context.Background(), root, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			tree, maxSize := readManifest(t, manifest)
			stream := chunktest.VectorBytes(int64(maxSize))
			for seed := uint64(1); seed <= 2; seed++ {
				ents := shuffledEntries(tree, stream, hidden, rand.New(rand.NewPCG(seed, 0)))
				got, err := chunk.AddTree(context.Background(), &sliceTree{t: t, ents: ents}, nil, opts)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if got != disk {
					t.Errorf("seed %d: AddTree = %+v, AddDir = %+v", seed, got, disk)
				}
				if got.Root.String() != want {
					t.Errorf("seed %d: root %s, kubo says %s", seed, got.Root, want)
				}
			}
		})
	}
}

func TestAddTreeRootFileOrSymlink(t *testing.T) {
	data := chunktest.VectorBytes(300000) // two chunks: through Add
	file, err := chunk.Add(context.Background(), bytes.NewReader(data), nil, chunk.AddOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := chunk.AddTree(context.Background(), &sliceTree{t: t, ents: []chunk.TreeEntry{
		{Kind: chunk.EntryFile, Body: bytes.NewReader(data)},
	}}, nil, chunk.DirOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != file.Root || got.Files != 1 || got.Dirs != 0 || got.Bytes != file.Size {
		t.Errorf("file root: %+v, Add gives %+v", got, file)
	}
	// The links.tsv tree on disk gives the symlink's CID to compare with.
	root := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "links.tsv", root)
	disk, err := chunk.AddDir(context.Background(), filepath.Join(root, "to-docs"), nil, chunk.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = chunk.AddTree(context.Background(), &sliceTree{t: t, ents: []chunk.TreeEntry{
		{Kind: chunk.EntrySymlink, Target: "docs"},
	}}, nil, chunk.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got != disk || got.Symlinks != 1 {
		t.Errorf("symlink root: %+v, AddDir gives %+v", got, disk)
	}
}

// TestAddTreeRefusesMalformed checks each malformed stream is refused with
// ErrBadTree and a message naming the offending path.
func TestAddTreeRefusesMalformed(t *testing.T) {
	dir := func(p string) chunk.TreeEntry { return chunk.TreeEntry{Path: p, Kind: chunk.EntryDir} }
	file := func(p string) chunk.TreeEntry {
		return chunk.TreeEntry{Path: p, Kind: chunk.EntryFile, Body: strings.NewReader("x")}
	}
	link := func(p string) chunk.TreeEntry {
		return chunk.TreeEntry{Path: p, Kind: chunk.EntrySymlink, Target: "t"}
	}
	root := dir("")
	for _, tc := range []struct {
		name string
		ents []chunk.TreeEntry
		path string // the path the error must name (quoted)
	}{
		{"first not root", []chunk.TreeEntry{file("a")}, "a"},
		{"root again", []chunk.TreeEntry{root, file("a"), dir("")}, ""},
		{"double slash", []chunk.TreeEntry{root, dir("a"), file("a//b")}, "a//b"},
		{"leading slash", []chunk.TreeEntry{root, file("/a")}, "/a"},
		{"trailing slash", []chunk.TreeEntry{root, dir("a/")}, "a/"},
		{"dot", []chunk.TreeEntry{root, file(".")}, "."},
		{"dotdot", []chunk.TreeEntry{root, file("..")}, ".."},
		{"dot inside", []chunk.TreeEntry{root, dir("a"), file("a/./b")}, "a/./b"},
		{"dotdot inside", []chunk.TreeEntry{root, dir("a"), file("a/../b")}, "a/../b"},
		{"NUL", []chunk.TreeEntry{root, file("a\x00b")}, "a\x00b"},
		{"out of order", []chunk.TreeEntry{root, dir("a"), file("b"), file("a/x")}, "a/x"},
		{"parent never came", []chunk.TreeEntry{root, file("x/y")}, "x/y"},
		{"grandparent never came", []chunk.TreeEntry{root, dir("x"), file("x/y/z")}, "x/y/z"},
		{"parent is a file", []chunk.TreeEntry{root, file("f"), file("f/g")}, "f/g"},
		{"parent is a symlink", []chunk.TreeEntry{root, link("l"), dir("l/d")}, "l/d"},
		{"name twice", []chunk.TreeEntry{root, file("a"), file("a")}, "a"},
		{"name twice, dir then file", []chunk.TreeEntry{root, dir("a"), file("a/x"), file("a")}, "a"},
		{"name twice, deep", []chunk.TreeEntry{root, dir("d"), link("d/s"), file("b"), dir("d"), file("d/s")}, "d"},
		{"name twice in subdir", []chunk.TreeEntry{root, dir("d"), link("d/s"), file("d/s"), file("z")}, "d/s"},
		{"unknown kind", []chunk.TreeEntry{root, {Path: "k", Kind: 9}}, "k"},
		{"zero kind", []chunk.TreeEntry{root, {Path: "k"}}, "k"},
		{"unknown root kind", []chunk.TreeEntry{{Kind: 4}}, ""},
		{"nil body", []chunk.TreeEntry{root, {Path: "f", Kind: chunk.EntryFile}}, "f"},
		{"nil root body", []chunk.TreeEntry{{Kind: chunk.EntryFile}}, ""},
		{"after root file", []chunk.TreeEntry{file(""), file("a")}, "a"},
		{"after root symlink", []chunk.TreeEntry{link(""), dir("d")}, "d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chunk.AddTree(context.Background(), &sliceTree{t: t, ents: tc.ents}, nil, chunk.DirOptions{Workers: 1})
			if !errors.Is(err, chunk.ErrBadTree) {
				t.Fatalf("err = %v, want ErrBadTree", err)
			}
			t.Log(err)
			if q := strconv.Quote(tc.path); !strings.Contains(err.Error(), q) {
				t.Errorf("error %q does not name %s", err, q)
			}
		})
	}
	t.Run("empty stream", func(t *testing.T) {
		_, err := chunk.AddTree(context.Background(), &sliceTree{t: t}, nil, chunk.DirOptions{})
		if !errors.Is(err, chunk.ErrBadTree) {
			t.Fatalf("err = %v, want ErrBadTree", err)
		}
	})
}

// errTree yields its entries, then fails or cancels.
type errTree struct {
	sliceTree
	err    error
	cancel context.CancelFunc
}

func (e *errTree) Next() (chunk.TreeEntry, error) {
	if e.i == len(e.ents) {
		if e.cancel != nil {
			e.cancel()
			e.cancel = nil
		} else {
			return chunk.TreeEntry{}, e.err
		}
	}
	return e.sliceTree.Next()
}

func TestAddTreeReaderErrorAndCancel(t *testing.T) {
	ents := []chunk.TreeEntry{{Kind: chunk.EntryDir}, {Path: "a", Kind: chunk.EntryFile, Body: strings.NewReader("a")}}
	boom := errors.New("boom")
	_, err := chunk.AddTree(context.Background(), &errTree{sliceTree: sliceTree{t: t, ents: ents}, err: boom}, nil, chunk.DirOptions{})
	if !errors.Is(err, boom) || errors.Is(err, chunk.ErrBadTree) {
		t.Errorf("reader failure: err = %v, want boom", err)
	}
	// Cancelled between entries: the stream's end must not be taken for
	// the tree's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &errTree{sliceTree: sliceTree{t: t, ents: ents}, cancel: cancel}
	if _, err := chunk.AddTree(ctx, tr, nil, chunk.DirOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// TestDiskTreeWalk checks DiskTree's order (depth-first, names sorted), its
// dotfile rule, and that a file is open only while its entry is current.
func TestDiskTreeWalk(t *testing.T) {
	root := filepath.Join(t.TempDir(), "DIR")
	mkTree(t, "small.tsv", root)
	for _, hidden := range []bool{false, true} {
		tr := diskTreePaths(t, chunk.DiskTree(root, hidden))
		want := []string{"", "big.bin", "docs", "docs/deep", "docs/deep/nested",
			"docs/deep/nested/file.bin", "docs/empty.txt", "docs/guide.txt", "photos", "readme.txt"}
		if hidden {
			want = slices.Insert(want, 1, ".hidden")
			want = slices.Insert(want, 4, "docs/.config")
		}
		if !slices.Equal(tr, want) {
			t.Errorf("hidden=%v: walk %q, want %q", hidden, tr, want)
		}
	}
	d := chunk.DiskTree(root, false)
	for {
		e, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == chunk.EntryFile {
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Body.Read(make([]byte, 1)); err == nil {
				t.Error("file still readable after Close")
			}
			break
		}
	}
	if _, err := d.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
}

// diskTreePaths walks d to its end and returns the entries' paths, with
// each file's size checked against a stat of it.
func diskTreePaths(t *testing.T, d *chunk.DiskTreeReader) []string {
	t.Helper()
	defer d.Close()
	var paths []string
	for {
		e, err := d.Next()
		if err == io.EOF {
			return paths
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == chunk.EntryFile {
			n, err := io.Copy(io.Discard, e.Body)
			if err != nil {
				t.Fatal(fmt.Errorf("%s: %w", e.Path, err))
			}
			if fi, err := e.Body.(*os.File).Stat(); err != nil || fi.Size() != n {
				t.Errorf("%s: read %d bytes, stat %v %v", e.Path, n, fi, err)
			}
		}
		paths = append(paths, e.Path)
	}
}
