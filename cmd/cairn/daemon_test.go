package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node/repo"
)

// runAsCairnEnv makes the test binary act as the cairn binary, so tests
// can start real daemon processes without building anything.
const runAsCairnEnv = "CAIRN_TEST_RUN_AS_CAIRN"

func init() {
	if os.Getenv(runAsCairnEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// startDaemon starts `cairn daemon` on repo as a child process and waits
// until it has published its API address.
func startDaemon(t testing.TB, repoDir string, args ...string) *exec.Cmd {
	t.Helper()
	args = append([]string{"--repo", repoDir, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--gateway", "127.0.0.1:0"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsCairnEnv+"=1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		waited := make(chan struct{})
		go func() { cmd.Wait(); close(waited) }()
		if os.Getenv("CAIRN_CPUPROFILE") != "" || os.Getenv("CAIRN_TRACE") != "" {
			// A daemon writes its profile when it stops cleanly: a
			// benchmark run with one asks it to.
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-waited:
				return
			case <-time.After(20 * time.Second):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-waited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(repo.APIFilePath(repoDir)); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon on %s did not publish its API within 30s:\n%s", repoDir, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func daemonID(t testing.TB, repoDir string) gateway.IDResponse {
	t.Helper()
	var id gateway.IDResponse
	if err := json.Unmarshal([]byte(mustCairn(t, repoDir, nil, "id").stdout), &id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFiveDaemonsChainedByBootstrapServeAFileAddedOnTheFirstToTheLast(t *testing.T) {
	var repos []string
	var daemons []*exec.Cmd
	for i := 0; i < 5; i++ {
		dir := newRepo(t)
		var extra []string
		if i > 0 {
			extra = []string{"--bootstrap", daemonID(t, repos[i-1]).Addresses[0]}
		}
		daemons = append(daemons, startDaemon(t, dir, extra...))
		repos = append(repos, dir)
	}
	first, last := repos[0], repos[4]
	id1 := daemonID(t, first)
	if len(id1.Addresses) == 0 || !strings.HasSuffix(id1.Addresses[0], "/p2p/"+id1.ID) {
		t.Fatalf("cairn id through the daemon: %+v", id1)
	}

	data := randomBytes(9, 20<<20)
	root := mustCairn(t, first, nil, "add", writeFile(t, data)).lastLine()

	// The last node finds the first as a provider through the DHT.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(cairn(t, last, nil, "dht", "findprovs", root).stdout, id1.ID) {
		if time.Now().After(deadline) {
			t.Fatal("node 5 never found node 1 as a provider")
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	out := filepath.Join(t.TempDir(), "fetched")
	mustCairn(t, last, nil, "get", root, "-o", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("node 5 wrote %d bytes that differ from the %d added on node 1 (%v)", len(got), len(data), err)
	}
	if peers := mustCairn(t, last, nil, "swarm", "peers").stdout; !strings.Contains(peers, "/p2p/") {
		t.Fatalf("swarm peers on node 5: %q", peers)
	}

	// Every block reaches R=3 live copies (the adder, W-1 pushed before add
	// returned, the rest in the background), and stat --replicas says so.
	deadline = time.Now().Add(time.Minute)
	for {
		var reps gateway.ReplicasResponse
		out := mustCairn(t, first, nil, "stat", "--replicas", "--json", root).stdout
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatalf("stat --replicas --json: %v\n%s", err, out)
		}
		if len(reps.Chunks) != 81 || reps.Chunks[0].CID != root {
			t.Fatalf("stat --replicas lists %d blocks starting with %v, want the 81 of the file from its root", len(reps.Chunks), reps.Chunks[0].CID)
		}
		if reps.MinLive >= 3 {
			for _, h := range reps.Chunks[0].Holders {
				if !strings.HasPrefix(h, "12D3KooW") {
					t.Fatalf("holder %q is not a peer ID", h)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("min_live still %d after a minute", reps.MinLive)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}

	// A clean stop removes the api file; the CLI then works offline.
	daemons[4].Process.Signal(syscall.SIGTERM)
	if err := daemons[4].Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(repo.APIFilePath(last)); !os.IsNotExist(err) {
		t.Fatalf("api file left after a clean stop: %v", err)
	}
	if got := mustCairn(t, last, nil, "cat", root).stdout; got != string(data) {
		t.Fatal("offline cat after the daemon stopped differs")
	}

	// A killed daemon leaves a stale api file, which the CLI sees through.
	daemons[3].Process.Signal(syscall.SIGKILL)
	daemons[3].Wait()
	if _, err := os.Stat(repo.APIFilePath(repos[3])); err != nil {
		t.Fatalf("expected the killed daemon's api file to remain: %v", err)
	}
	if r := cairn(t, repos[3], nil, "repo", "stat"); r.code != 0 {
		t.Fatalf("repo stat beside a stale api file: %s", r.stderr)
	}
	if r := cairn(t, repos[3], nil, "swarm", "peers"); r.code == 0 || !strings.Contains(r.stderr, "no cairn daemon is running") {
		t.Fatalf("swarm peers without a daemon: %+v", r)
	}
}

// The CLI prints the same thing offline and through the daemon: both go
// through the gateway's Backend over the same node code. (The pin
// commands are the cluster's and need the daemon: cluster_test.go.)
func TestOfflineAndDaemonPrintTheSame(t *testing.T) {
	dir := newRepo(t)
	data := vectorBytes(3 * 262144)
	root := mustCairn(t, dir, nil, "add", writeFile(t, data)).lastLine()
	// A rotted leaf, so that verify has a failure to name.
	seg := filepath.Join(dir, "blocks", "00000001.seg")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 1000)
	f.WriteAt([]byte{b[0] ^ 1}, 1000)
	f.Close()

	commands := [][]string{
		{"repo", "verify"},
		{"repo", "stat"},
		{"stat", "--json", root},
	}
	offline := make([]result, len(commands))
	for i, args := range commands {
		offline[i] = cairn(t, dir, nil, args...)
	}
	startDaemon(t, dir)
	for i, args := range commands {
		online := cairn(t, dir, nil, args...)
		want := offline[i]
		if args[0] == "stat" {
			// Through the daemon, stat adds the live copies it counted.
			var st gateway.StatResponse
			if err := json.Unmarshal([]byte(online.stdout), &st); err != nil {
				t.Fatal(err)
			}
			st.MinLive, st.Factor = 0, 0
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.Encode(st)
			online.stdout = buf.String()
		}
		if online.stdout != want.stdout || online.code != want.code {
			t.Errorf("%v: offline exit %d %q, through the daemon exit %d %q", args, want.code, want.stdout, online.code, online.stdout)
		}
	}
	if !strings.Contains(offline[0].stdout, "FAILED bafk") {
		t.Fatalf("verify named no failure: %q", offline[0].stdout)
	}
}
