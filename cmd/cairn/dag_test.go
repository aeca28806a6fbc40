package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

type carBlock struct {
	c    cid.Cid
	data []byte
}

func readCAR(t *testing.T, b []byte) ([]cid.Cid, []carBlock) {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []carBlock
	for {
		blk, err := br.Next()
		if err != nil {
			break
		}
		out = append(out, carBlock{blk.Cid(), blk.RawData()})
	}
	return br.Roots, out
}

func writeCAR(t testing.TB, roots []cid.Cid, blocks []carBlock) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.c.KeyString(), b.data); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "x.car")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// A folder exported from one repo as a CAR and imported into another is
// the same folder there; bad CARs are refused naming what is wrong and pin
// nothing; a CAR that leaves a root's DAG incomplete imports it unpinned,
// with a warning and exit 0.
func TestDagExportThenImportMovesAFolderAndBadCARsPinNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "DIR")
	chunktest.MakeTree(t, "small.tsv", src)
	a := newRepo(t)
	root := mustCairn(t, a, nil, "add", "-r", "--hidden", src).lastLine()
	car := mustCairn(t, a, nil, "dag", "export", root).stdout
	roots, blocks := readCAR(t, []byte(car))
	if len(roots) != 1 || roots[0].String() != root || blocks[0].c.String() != root {
		t.Fatalf("export: roots %v, first block %v, want %s", roots, blocks[0].c, root)
	}

	b := newRepo(t)
	carFile := writeCAR(t, roots, blocks)
	out := mustCairn(t, b, nil, "dag", "import", carFile)
	if !strings.Contains(out.stdout, "pinned root "+root) {
		t.Fatalf("import: %q %q", out.stdout, out.stderr)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	mustCairn(t, b, nil, "get", root, "-o", copyDir)
	sameTree(t, src, copyDir)
	if again := mustCairn(t, b, nil, "dag", "export", root).stdout; again != car {
		t.Fatal("the imported DAG exports to other bytes")
	}

	c := newRepo(t)
	if r := mustCairn(t, c, nil, "dag", "import", "--pin-roots=false", carFile); strings.Contains(r.stdout, "pinned") {
		t.Errorf("--pin-roots=false pinned: %q", r.stdout)
	}

	rotten := append([]carBlock(nil), blocks...)
	rotten[2] = carBlock{rotten[2].c, append([]byte{rotten[2].data[0] ^ 1}, rotten[2].data[1:]...)}
	full, _ := os.ReadFile(carFile)
	trunc := filepath.Join(t.TempDir(), "trunc.car")
	os.WriteFile(trunc, full[:len(full)-100], 0o644)
	for name, tc := range map[string]struct{ file, says string }{
		"a block that does not match its CID": {writeCAR(t, roots, rotten), blocks[2].c.String()},
		"a truncated CAR":                     {trunc, "malformed CAR"},
		"not a CAR":                           {writeFile(t, []byte("hello, not a car")), "malformed CAR"},
	} {
		d := newRepo(t)
		r := cairn(t, d, nil, "dag", "import", tc.file)
		if r.code == 0 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%s: exit %d, stderr %q, want it to name %q", name, r.code, r.stderr, tc.says)
		}
		// Nothing of a refused CAR is pinned, so GC keeps none of it
		// (offline, GC is where the repo's pins show).
		if gc := mustCairn(t, d, nil, "repo", "gc").stdout; !strings.Contains(gc, "kept 0,") {
			t.Errorf("%s: gc kept blocks: %q", name, gc)
		}
	}

	// The root and all but the last block: the root comes in, unpinned.
	d := newRepo(t)
	r := mustCairn(t, d, nil, "dag", "import", writeCAR(t, roots, blocks[:len(blocks)-1]))
	if strings.Contains(r.stdout, "pinned") || !strings.Contains(r.stderr, "warning: root "+root) {
		t.Errorf("incomplete CAR: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}
