package testnet

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var cairnBin, testnetBin string

func TestMain(m *testing.M) {
	code := func() int {
		if Available() == nil {
			dir, err := os.MkdirTemp("", "cairn-testnet-bin-")
			if err != nil {
				panic(err)
			}
			defer os.RemoveAll(dir)
			cairnBin, testnetBin = filepath.Join(dir, "cairn"), filepath.Join(dir, "cairn-testnet")
			for bin, pkg := range map[string]string{cairnBin: "./cmd/cairn", testnetBin: "./cmd/cairn-testnet"} {
				cmd := exec.Command("go", "build", "-o", bin, pkg)
				cmd.Dir = "../.."
				if out, err := cmd.CombinedOutput(); err != nil {
					os.Stderr.Write(out)
					panic(err)
				}
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needNamespaces(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("the testnet cannot run here: %v", err)
	}
}

func TestThreeDaemonsInNamespacesTakeAnAddAndServeItFromEach(t *testing.T) {
	needNamespaces(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "t" + time.Now().Format("150405")
	c, err := Up(ctx, Config{Bin: cairnBin, Nodes: 3, ID: id, DiskSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitConnected(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	data := []byte("a file in a namespace\n")
	root, _, err := c.Client.Add(ctx, 0, "ns.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sum, n, err := c.Client.Get(ctx, i, root, "")
		if err != nil || sum != sha256.Sum256(data) || n != len(data) {
			t.Fatalf("node %d: %v (%d bytes)", i, err, n)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ns, _ := Namespaces(id); len(ns) != 0 {
		t.Fatalf("namespaces left: %v", ns)
	}
}

// The short schedule: five daemons under a one-minute schedule with every
// kind of fault, and the promise checked after it. make chaos runs the
// full one.
func TestAShortFaultScheduleLosesNothing(t *testing.T) {
	needNamespaces(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := Up(ctx, Config{Bin: cairnBin, Nodes: 5, ID: "s" + time.Now().Format("150405"), Dir: dir, DiskSize: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Seed 27 freezes, partitions, isolates, kills and replaces nodes in
	// 75 s; make chaos's five minutes add full disks and bitrot.
	rep, err := Chaos(ctx, c, ChaosConfig{Seed: 27, Length: 75 * time.Second, FreezeFor: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Markdown("go test -run TestAShortFaultScheduleLosesNothing ./simulations/testnet/"))
	if f := rep.Failures(); len(f) > 0 {
		for _, d := range c.Daemons {
			if b, err := os.ReadFile(d.Log); err == nil && len(b) > 0 {
				t.Logf("node %d log tail:\n%s", d.I, b[max(0, len(b)-3000):])
			}
		}
		t.Fatalf("promises broken:\n%s", strings.Join(f, "\n"))
	}
	if len(rep.Acks) == 0 || rep.ReadOutcomes["ok"] == 0 {
		t.Fatalf("the workload did nothing: %d acks, reads %v", len(rep.Acks), rep.ReadOutcomes)
	}
}

// An interrupt mid-run (SIGINT to cairn-testnet) leaves no namespace,
// link, mount or process of the run behind.
func TestAnInterruptedTestnetLeavesNothingBehind(t *testing.T) {
	needNamespaces(t)
	id := "i" + time.Now().Format("150405")
	dir := t.TempDir()
	cmd := exec.Command(testnetBin, "-cairn", cairnBin, "-n", "3", "-id", id, "-dir", dir, "-length", "5m", "-report", t.TempDir(), "chaos")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Interrupt once the schedule has begun: daemons up, faults under way.
	buf := make([]byte, 64<<10)
	var seen string
	for !strings.Contains(seen, "chaos: seed") {
		n, err := out.Read(buf)
		if err != nil {
			t.Fatalf("cairn-testnet ended before its schedule began: %v\n%s", err, seen)
		}
		seen += string(buf[:n])
	}
	if ns, _ := Namespaces(id); len(ns) != 5 {
		t.Fatalf("mid-run: %d namespaces (%v), want 5 (bridge, 3 nodes, clients)", len(ns), ns)
	}
	time.Sleep(8 * time.Second) // into the schedule: the first fault starts at 5 s
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { io.Copy(io.Discard, out); done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("cairn-testnet did not end within 2 minutes of an interrupt")
	}
	if ns, err := Namespaces(id); err != nil || len(ns) != 0 {
		t.Errorf("namespaces left: %v (%v)", ns, err)
	}
	if m, err := Mounted(dir); err != nil || len(m) != 0 {
		t.Errorf("mounts left: %v (%v)", m, err)
	}
	if ps := processesMentioning(t, dir); len(ps) != 0 {
		t.Errorf("processes left: %v", ps)
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, "veth") || strings.Contains(l, "br0") {
			t.Errorf("a link in the machine's own namespace: %s", l)
		}
	}
}

// processesMentioning lists the processes whose command line names dir.
func processesMentioning(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
