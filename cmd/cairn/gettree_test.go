package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

// sameTree fails unless the trees at a and b hold the same names, file
// bytes and symlink targets.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fi, err := os.Lstat(q)
		if err != nil {
			t.Errorf("%s: missing from the copy: %v", rel, err)
			return nil
		}
		seen++
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			ta, _ := os.Readlink(p)
			tb, _ := os.Readlink(q)
			if fi.Mode()&fs.ModeSymlink == 0 || ta != tb {
				t.Errorf("%s: symlink to %q copied as %v to %q", rel, ta, fi.Mode(), tb)
			}
		case d.IsDir():
			if !fi.IsDir() {
				t.Errorf("%s: folder copied as %v", rel, fi.Mode())
			}
		default:
			da, _ := os.ReadFile(p)
			db, _ := os.ReadFile(q)
			if !bytes.Equal(da, db) {
				t.Errorf("%s: bytes differ", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// and nothing more in the copy
	extra := 0
	filepath.WalkDir(b, func(string, fs.DirEntry, error) error { extra++; return nil })
	if extra != seen {
		t.Errorf("the copy holds %d entries, the original %d", extra, seen)
	}
}

// A folder added with add -r is listed, read by path, and written back
// by get, byte for byte, offline and through the daemon alike.
func TestFoldersAreListedReadByPathAndWrittenBack(t *testing.T) {
	src := filepath.Join(t.TempDir(), "DIR")
	chunktest.MakeTree(t, "links.tsv", src)
	small := filepath.Join(src, "small")
	chunktest.MakeTree(t, "small.tsv", small)
	dir := newRepo(t)
	root := mustCairn(t, dir, nil, "add", "-r", "--hidden", src).lastLine()

	check := func(how string) {
		ls := mustCairn(t, dir, nil, "ls", root).stdout
		for _, name := range []string{"small/", "->"} {
			if !strings.Contains(ls, name) {
				t.Errorf("%s: ls %s has no %q:\n%s", how, root, name, ls)
			}
		}
		entries, _ := os.ReadDir(src)
		if got := strings.Count(ls, "\n"); got != len(entries) {
			t.Errorf("%s: ls printed %d lines for %d entries:\n%s", how, got, len(entries), ls)
		}
		filepath.WalkDir(small, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			want, _ := os.ReadFile(p)
			if got := mustCairn(t, dir, nil, "cat", root+"/"+filepath.ToSlash(rel)).stdout; got != string(want) {
				t.Errorf("%s: cat %s differs", how, rel)
			}
			return nil
		})
		if r := cairn(t, dir, nil, "cat", root+"/small/nope"); r.code == 0 || !strings.Contains(r.stderr, "no such entry") {
			t.Errorf("%s: cat of a missing name: exit %d, %q", how, r.code, r.stderr)
		}
		out := filepath.Join(t.TempDir(), "copy")
		mustCairn(t, dir, nil, "get", root, "-o", out)
		sameTree(t, src, out)
		if r := cairn(t, dir, nil, "get", root, "-o", out); r.code == 0 || !strings.Contains(r.stderr, "exists") {
			t.Errorf("%s: get over an existing folder: exit %d, %q", how, r.code, r.stderr)
		}
		sub := filepath.Join(t.TempDir(), "sub")
		mustCairn(t, dir, nil, "get", root+"/small", "-o", sub)
		sameTree(t, small, sub)
	}
	check("offline")
	startDaemon(t, dir)
	check("through the daemon")
}

func TestEntryNamesThatWouldLeaveTheFolderAreRefused(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../x", "a\x00b", "/abs"} {
		if checkEntryName(name) == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	for _, name := range []string{"a", ".hidden", "...", "a b", "ünï"} {
		if err := checkEntryName(name); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
}

// doublingBackend serves a chain of folders, each holding its next one
// twice: a few blocks of DAG whose tree has 2^levels folders.
type doublingBackend struct {
	backend
	levels []cid.Cid
}

func newDoublingBackend(t *testing.T, n int) doublingBackend {
	t.Helper()
	var d doublingBackend
	for i := range n {
		c, err := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, []byte(fmt.Sprint("level ", i)))
		if err != nil {
			t.Fatal(err)
		}
		d.levels = append(d.levels, c)
	}
	return d
}

func (d doublingBackend) list(_ context.Context, c cid.Cid) ([]gateway.DirEntry, error) {
	for i, l := range d.levels[:len(d.levels)-1] {
		if l == c {
			next := d.levels[i+1].String()
			return []gateway.DirEntry{{Name: "a", CID: next, Type: "directory"}, {Name: "b", CID: next, Type: "directory"}}, nil
		}
	}
	return nil, nil // the last level is empty
}

func TestGetStopsAFolderThatRepeatsItselfAtItsEntryBudget(t *testing.T) {
	d := newDoublingBackend(t, 16) // 2^16 folders if written out
	out := t.TempDir()
	w := &treeWriter{ctx: context.Background(), b: d, maxEntries: 1000}
	err := w.dir(d.levels[0], out, 0)
	if err == nil || !strings.Contains(err.Error(), "more than 1000 entries") {
		t.Fatalf("writing a self-repeating folder: %v", err)
	}
	n := 0
	filepath.WalkDir(out, func(string, fs.DirEntry, error) error { n++; return nil })
	if n > 1001 {
		t.Fatalf("%d entries written past a budget of 1000", n)
	}
}
