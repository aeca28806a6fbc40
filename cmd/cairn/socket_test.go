package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node/repo"
)

// The CLI on the daemon's machine goes through the repo's Unix socket,
// which only the repo's owner may use; a socket left by a killed daemon
// is seen through, and the next daemon takes its place.
func TestTheCLIReachesItsDaemonThroughTheRepoSocket(t *testing.T) {
	dir := newRepo(t)
	d := startDaemon(t, dir)
	sock := repo.APISocketPath(dir)
	st, err := os.Stat(sock)
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no API socket at %s: %v %v", sock, st, err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("the API socket is open to others: mode %v", perm)
	}
	c, err := daemonClient(dir)
	if err != nil || c == nil {
		t.Fatalf("no client of the running daemon: %v", err)
	}
	if c.socket != sock {
		t.Fatalf("the client goes through %q, want the socket %s", c.socket, sock)
	}
	want := daemonID(t, dir).ID // through the socket
	root := mustCairn(t, dir, []byte("through the socket"), "add", "-").lastLine()
	if got := mustCairn(t, dir, nil, "cat", root).stdout; got != "through the socket" {
		t.Fatalf("cat through the socket: %q", got)
	}

	d.Process.Signal(syscall.SIGKILL)
	d.Wait()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("expected the killed daemon's socket to remain: %v", err)
	}
	if c, err := daemonClient(dir); c != nil || err != nil {
		t.Fatalf("a stale socket passed for a daemon: %+v, %v", c, err)
	}
	if r := cairn(t, dir, nil, "swarm", "peers"); r.code == 0 || !strings.Contains(r.stderr, "no cairn daemon is running") {
		t.Fatalf("swarm peers beside a stale socket: %+v", r)
	}

	// startDaemon returns at once: the killed daemon's api file is there.
	startDaemon(t, dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := daemonClient(dir)
		if err != nil {
			t.Fatal(err)
		}
		if c != nil {
			if c.socket != sock {
				t.Fatalf("the restarted daemon is reached through %q, want its socket", c.socket)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted daemon did not answer within 30s")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if got := daemonID(t, dir).ID; got != want {
		t.Fatalf("the restarted daemon is %s, want %s", got, want)
	}
}

// A repo whose path is too long for a Unix socket (108 bytes on Linux)
// still gets its daemon: over TCP.
func TestADaemonWhoseRepoPathIsTooLongForASocketIsReachedOverTCP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100), "repo")
	mustCairn(t, dir, nil, "init")
	startDaemon(t, dir)
	if _, err := os.Stat(repo.APISocketPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("a socket at a path too long for one: %v", err)
	}
	c, err := daemonClient(dir)
	if err != nil || c == nil || c.socket != "" {
		t.Fatalf("want a TCP client of the daemon, got %+v, %v", c, err)
	}
	daemonID(t, dir)
}
