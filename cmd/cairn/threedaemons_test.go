package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/gateway"
)

// writeRandomTree makes files random files of 1 to 8,000 bytes in nested
// folders under root, and a few symlinks and empty folders.
func writeRandomTree(t *testing.T, root string, files int, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	for i := range files {
		dir := filepath.Join(root, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("e%d", i%5))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 1+rng.Intn(8000))
		rng.Read(data)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "empty", "inner"), 0o755)
	os.Symlink("d00/e0/f0000.bin", filepath.Join(root, "link"))
}

// Three real daemons: a folder of 1,000 files added on the first reaches
// three live copies of every block; with the first killed, the third
// writes the folder back byte for byte.
func TestThreeDaemonsKeepAFolderThroughTheLossOfItsAdder(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons and 1,000 files: make test-vectors runs it")
	}
	var repos []string
	var daemons = map[int]*os.Process{}
	for i := range 3 {
		dir := newRepo(t)
		var extra []string
		if i > 0 {
			extra = []string{"--bootstrap", daemonID(t, repos[0]).Addresses[0]}
		}
		daemons[i] = startDaemon(t, dir, extra...).Process
		repos = append(repos, dir)
	}
	src := filepath.Join(t.TempDir(), "tree")
	writeRandomTree(t, src, 1000, 3)
	root := mustCairn(t, repos[0], nil, "add", "-r", src).lastLine()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		var reps gateway.ReplicasResponse
		out := mustCairn(t, repos[0], nil, "stat", "--replicas", "--json", root).stdout
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatalf("stat --replicas --json: %v", err)
		}
		if reps.MinLive >= 3 {
			t.Logf("%d blocks, every one at %d or more live copies", len(reps.Chunks), reps.MinLive)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("min_live still %d after two minutes", reps.MinLive)
		}
		time.Sleep(250 * time.Millisecond) // poll interval
	}
	daemons[0].Signal(syscall.SIGKILL)
	daemons[0].Wait()

	out := filepath.Join(t.TempDir(), "copy")
	mustCairn(t, repos[2], nil, "get", root, "-o", out)
	sameTree(t, src, out)
}
