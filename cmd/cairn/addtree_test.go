package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk/chunktest"
)

// dirRows are the rows of the dirs vectors: manifest, flags, kubo's CID.
func dirRows(t *testing.T) [][]string {
	t.Helper()
	var rows [][]string
	for _, r := range readTSV(t, filepath.Join("dirs", "dirs.tsv")) {
		if r[0] != "manifest" {
			rows = append(rows, r)
		}
	}
	return rows
}

// buildTrees makes each manifest's tree once, in a directory named DIR as
// kubo's vectors were made.
func buildTrees(t *testing.T, rows [][]string) map[string]string {
	t.Helper()
	trees := map[string]string{}
	for _, row := range rows {
		if _, ok := trees[row[0]]; !ok {
			root := filepath.Join(t.TempDir(), "DIR")
			chunktest.MakeTree(t, row[0], root)
			trees[row[0]] = root
		}
	}
	return trees
}

// skipBig leaves the trees of thousands of files to the full run
// (make test-vectors), out of the race run.
func skipBig(rows [][]string) [][]string {
	if !testing.Short() {
		return rows
	}
	var out [][]string
	for _, r := range rows {
		if r[0] == "small.tsv" || r[0] == "links.tsv" {
			out = append(out, r)
		}
	}
	return out
}

func addTreeArgs(row []string, root string) []string {
	args := []string{"add", "-r"}
	if row[1] != "" {
		args = append(args, strings.Fields(row[1])...)
	}
	return append(args, root)
}

// `cairn add -r` prints kubo's CID for every row of the dirs vectors,
// offline, and the same through a daemon (whose gateway takes the folder
// as multipart parts and builds it with the same code).
func TestAddRecursivePrintsKuboCIDsForTheDirVectors(t *testing.T) {
	rows := skipBig(dirRows(t))
	trees := buildTrees(t, rows)
	dir := newRepo(t)
	for _, row := range rows {
		r := mustCairn(t, dir, nil, addTreeArgs(row, trees[row[0]])...)
		if got := r.lastLine(); got != row[2] {
			t.Errorf("%s %s: add -r printed %s, kubo gives %s", row[0], row[1], got, row[2])
		}
		hashOnly := mustCairn(t, "", nil, append([]string{"add", "--only-hash"}, addTreeArgs(row, trees[row[0]])[1:]...)...)
		if got := hashOnly.lastLine(); got != row[2] {
			t.Errorf("%s %s: add -r --only-hash printed %s, kubo gives %s", row[0], row[1], got, row[2])
		}
	}
	startDaemon(t, dir)
	for _, row := range rows {
		r := mustCairn(t, dir, nil, addTreeArgs(row, trees[row[0]])...)
		if got := r.lastLine(); got != row[2] {
			t.Errorf("%s %s through the daemon: add -r printed %s, kubo gives %s", row[0], row[1], got, row[2])
		}
	}
}
