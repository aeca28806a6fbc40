package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/gateway"
)

// writeNamedFile writes data to a file called name and returns its path.
func writeNamedFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pinList is `cairn pin ls --json`, parsed.
func pinList(t *testing.T, dir string) []gateway.PinInfo {
	t.Helper()
	out := mustCairn(t, dir, nil, "pin", "ls", "--json").stdout
	var pins []gateway.PinInfo
	if err := json.Unmarshal([]byte(out), &pins); err != nil {
		t.Fatalf("pin ls --json: %v\n%s", err, out)
	}
	return pins
}

// findPin is root's entry among pins, and whether there is one.
func findPin(pins []gateway.PinInfo, root string) (gateway.PinInfo, bool) {
	for _, p := range pins {
		if p.CID == root {
			return p, true
		}
	}
	return gateway.PinInfo{}, false
}

// sortedKeys is the keys of a JSON object, sorted and comma-joined.
func sortedKeys(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// stopDaemon stops a daemon cleanly, so the CLI then works offline.
func stopDaemon(t *testing.T, d *exec.Cmd) {
	t.Helper()
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
}

// offlineMsg is what every pin and status command says without a daemon.
const offlineMsg = "the cluster's pin set needs the daemon: start it with `cairn daemon`"

func TestClusterPinsAndStatusThroughTheDaemon(t *testing.T) {
	dir := newRepo(t)
	d := startDaemon(t, dir)
	self := daemonID(t, dir).ID
	data := randomBytes(21, 700_000)
	root := mustCairn(t, dir, nil, "add", writeNamedFile(t, "report.pdf", data)).lastLine()

	// add named the pin after the file.
	p, ok := findPin(pinList(t, dir), root)
	if !ok || p.Name != "report.pdf" || p.By != self || p.Bytes < uint64(len(data)) || p.At.IsZero() {
		t.Fatalf("pin ls --json: %+v (found %v), want %s named report.pdf by %s", p, ok, root, self)
	}
	if ls := mustCairn(t, dir, nil, "pin", "ls").stdout; !strings.Contains(ls, root) || !strings.Contains(ls, "report.pdf") {
		t.Errorf("pin ls: %q", ls)
	}

	// status --json has exactly the documented keys.
	out := mustCairn(t, dir, nil, "status", "--json").stdout
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if got := sortedKeys(t, json.RawMessage(out)); got != "nodes,pins" {
		t.Fatalf("status keys %s", got)
	}
	if got := sortedKeys(t, top["pins"]); got != "bytes,count" {
		t.Errorf("pins keys %s", got)
	}
	var nodes []json.RawMessage
	if err := json.Unmarshal(top["nodes"], &nodes); err != nil || len(nodes) == 0 {
		t.Fatalf("nodes %s: %v", top["nodes"], err)
	}
	for _, n := range nodes {
		if got := sortedKeys(t, n); got != "blocks,capacity,id,last_seen,repairing,state,under_replicated,used" {
			t.Errorf("node keys %s", got)
		}
	}
	var st gateway.ClusterStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nodes[0].ID != self || st.Nodes[0].State != "up" || st.Pins.Count != 1 || st.Pins.Bytes != p.Bytes {
		t.Errorf("status: %+v", st)
	}
	if table := mustCairn(t, dir, nil, "status").stdout; !strings.Contains(table, self) || !strings.Contains(table, "pins: 1,") {
		t.Errorf("status: %q", table)
	}

	// status CID: the entry and every block's copies.
	var ps gateway.PinStatus
	if err := json.Unmarshal([]byte(mustCairn(t, dir, nil, "status", "--json", root).stdout), &ps); err != nil {
		t.Fatal(err)
	}
	if ps.Pin.Name != "report.pdf" || len(ps.Chunks) != 4 || ps.MinLive < 1 || ps.Chunks[0].Holders[0] != self {
		t.Errorf("status --json %s: %+v", root, ps)
	}
	if r := mustCairn(t, dir, nil, "status", root).stdout; !strings.Contains(r, "report.pdf") || !strings.Contains(r, ps.Chunks[3].CID) {
		t.Errorf("status %s: %q", root, r)
	}

	// pin add names a pin; pin rm takes it out of the set.
	if r := mustCairn(t, dir, nil, "pin", "add", "--name", "renamed", "--replicas", "3", root).stdout; !strings.Contains(r, "pinned "+root) {
		t.Errorf("pin add: %q", r)
	}
	if p, _ := findPin(pinList(t, dir), root); p.Name != "renamed" || p.Replicas != 3 {
		t.Errorf("after pin add --name: %+v", p)
	}
	// A count other than R would be recorded and ignored: refused.
	if r := cairn(t, dir, nil, "pin", "add", "--replicas", "5", root); r.code == 0 || !strings.Contains(r.stderr, "not supported") {
		t.Errorf("pin add --replicas 5 with R=3: %+v", r)
	}
	if p, _ := findPin(pinList(t, dir), root); p.Replicas != 3 {
		t.Errorf("a refused pin add changed the entry: %+v", p)
	}
	mustCairn(t, dir, nil, "pin", "rm", root)
	if _, ok := findPin(pinList(t, dir), root); ok {
		t.Fatal("pin rm left the pin in the set")
	}
	if r := cairn(t, dir, nil, "pin", "rm", root); r.code == 0 || !strings.Contains(r.stderr, "not pinned") {
		t.Errorf("second pin rm: %+v", r)
	}
	for _, args := range [][]string{
		{"pin", "add", "--replicas", "-1", root},
		{"pin", "add", "--name", strings.Repeat("n", 256), root},
		{"pin", "add", "not-a-cid"},
		{"status", "not-a-cid"},
	} {
		if r := cairn(t, dir, nil, args...); r.code == 0 {
			t.Errorf("%v succeeded: %q", args, r.stdout)
		}
	}

	// Without a daemon, every pin and status command says it needs one.
	stopDaemon(t, d)
	for _, args := range [][]string{
		{"pin", "ls"},
		{"pin", "ls", "--json"},
		{"pin", "add", root},
		{"pin", "rm", root},
		{"status"},
		{"status", root},
	} {
		if r := cairn(t, dir, nil, args...); r.code == 0 || !strings.Contains(r.stderr, offlineMsg) {
			t.Errorf("%v offline: exit %d, stderr %q, want it to say %q", args, r.code, r.stderr, offlineMsg)
		}
	}
}

// An unpinned file's blocks go once Cluster.UnpinGrace is over; a pinned
// one's stay through any GC.
func TestPinsKeepFilesThroughGCAndUnpinnedOnesGo(t *testing.T) {
	dir := newRepo(t)
	// The node's sweep frees an unpinned root's blocks after the grace
	// (repo gc keeps every root the reference index still knows).
	mustCairn(t, dir, nil, "config", "Cluster.UnpinGrace", "1s")
	mustCairn(t, dir, nil, "config", "Cluster.SweepInterval", "1s")
	startDaemon(t, dir)
	kept := mustCairn(t, dir, nil, "add", writeNamedFile(t, "kept", randomBytes(11, 600_000))).lastLine()
	gone := mustCairn(t, dir, nil, "add", writeNamedFile(t, "gone", randomBytes(12, 600_000))).lastLine()
	pins := pinList(t, dir)
	if _, ok := findPin(pins, kept); !ok {
		t.Fatalf("added file %s is not pinned: %+v", kept, pins)
	}
	if _, ok := findPin(pins, gone); !ok {
		t.Fatalf("added file %s is not pinned: %+v", gone, pins)
	}
	mustCairn(t, dir, nil, "pin", "rm", gone)

	// The unpin reaches the reference index in the background, and the
	// grace runs from then: wait for a sweep to free the 4 blocks of the
	// unpinned file, a GC keeping the other's meanwhile.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mustCairn(t, dir, nil, "repo", "gc")
		var rs gateway.RepoStatResponse
		if err := json.Unmarshal([]byte(mustCairn(t, dir, nil, "repo", "stat", "--json").stdout), &rs); err != nil {
			t.Fatal(err)
		}
		if rs.Blocks == 4 {
			break
		}
		if rs.Blocks < 4 || time.Now().After(deadline) {
			t.Fatalf("repo holds %d blocks, want the 4 of the pinned file", rs.Blocks)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	if got := mustCairn(t, dir, nil, "cat", kept).stdout; got != string(randomBytes(11, 600_000)) {
		t.Fatal("pinned file changed after gc")
	}
	mustCairn(t, dir, nil, "pin", "add", kept)
	mustCairn(t, dir, nil, "repo", "verify")
}

func TestPinPrinterStreamsTheJSONThatPrintJSONWouldPrint(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, pins := range [][]gateway.PinInfo{
		{},
		{{CID: "bafkqaaa", Name: "a <b>", By: "12D3Koo", At: at, Bytes: 1}},
		{{CID: "bafkqaaa", At: at}, {CID: "bafkqaab", Name: "two", Replicas: 2, At: at, Bytes: 7}},
	} {
		var want, got bytes.Buffer
		if err := printJSON(&want, pins); err != nil {
			t.Fatal(err)
		}
		pp := newPinPrinter(&got, true)
		for _, p := range pins {
			if err := pp.add(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := pp.end(); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d pins: streamed\n%s\nwant\n%s", len(pins), got.String(), want.String())
		}
	}
}
