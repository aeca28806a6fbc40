package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
)

// The crash test re-executes this test binary as a child that adds a large
// file and prints "ack CID" for every block once a Sync covering it has
// returned, which is what acknowledgement means in the store.
const (
	crashChildEnv = "CAIRN_CRASH_CHILD_REPO"
	crashSeedEnv  = "CAIRN_CRASH_CHILD_SEED"
	crashSizeEnv  = "CAIRN_CRASH_CHILD_SIZE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// ackSink stores blocks and acknowledges them in batches: every ackEvery
// bytes it Syncs the store and prints the blocks put before the Sync.
type ackSink struct {
	s   *store.Store
	out *bufio.Writer

	mu       sync.Mutex
	unacked  []cid.Cid
	sinceAck int
}

const ackEvery = 8 << 20

func (a *ackSink) PutHashed(c cid.Cid, data []byte) error {
	if err := a.s.PutHashed(c, data); err != nil {
		return err
	}
	a.mu.Lock()
	a.unacked = append(a.unacked, c)
	a.sinceAck += len(data)
	if a.sinceAck < ackEvery {
		a.mu.Unlock()
		return nil
	}
	defer a.mu.Unlock()
	return a.ackLocked()
}

func (a *ackSink) ackLocked() error {
	batch := a.unacked
	a.unacked, a.sinceAck = nil, 0
	if err := a.s.Sync(); err != nil {
		return err
	}
	for _, c := range batch {
		fmt.Fprintf(a.out, "ack %s\n", c)
	}
	return a.out.Flush()
}

func crashChild(dir string) int {
	seed, _ := strconv.ParseInt(os.Getenv(crashSeedEnv), 10, 64)
	size, _ := strconv.ParseInt(os.Getenv(crashSizeEnv), 10, 64)
	// The repo's lock, and its block store opened directly: the sink
	// acknowledges per commit, below what an add exposes.
	r, err := repo.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer r.Close()
	l, err := store.Open(r.BlocksDir(), store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sink := &ackSink{s: l, out: bufio.NewWriter(os.Stdout)}
	in := io.LimitReader(rand.New(rand.NewSource(seed)), size)
	res, err := chunk.Add(context.Background(), in, sink, chunk.AddOptions{})
	if err == nil {
		sink.mu.Lock()
		err = sink.ackLocked()
		sink.mu.Unlock()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintf(sink.out, "root %s\n", res.Root)
	sink.out.Flush()
	if err := l.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// startCrashChild runs one add in a child process and returns it with a
// channel that yields the acknowledged CIDs once the child has exited.
func startCrashChild(t *testing.T, dir string, seed, size int64) (*exec.Cmd, <-chan []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+strconv.FormatInt(seed, 10), crashSizeEnv+"="+strconv.FormatInt(size, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		acks <- lines
	}()
	return cmd, acks
}

func TestKilledAddLosesNoAcknowledgedBlock(t *testing.T) {
	size := int64(192 << 20)
	rounds := 6
	if testing.Short() {
		size, rounds = 64<<20, 4
	}
	dir := newRepo(t)

	// A full run first, to learn how long an add takes here.
	start := time.Now()
	cmd, acks := startCrashChild(t, dir, 0, size)
	lines := <-acks
	if err := cmd.Wait(); err != nil {
		t.Fatalf("uninterrupted add: %v", err)
	}
	full := time.Since(start)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "root ") {
		t.Fatalf("uninterrupted add ended with %q", last)
	}

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	killed := 0
	for round := 1; round <= rounds; round++ {
		// Kill points spread over the add: round i dies somewhere in the
		// i-th slice of its expected duration.
		frac := (float64(round-1) + rng.Float64()) / float64(rounds)
		delay := time.Duration(frac * float64(full))
		cmd, acks := startCrashChild(t, dir, int64(round), size)
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		lines := <-acks
		cmd.Wait()
		timer.Stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}

		var acked []cid.Cid
		for _, line := range lines {
			if s, ok := strings.CutPrefix(line, "ack "); ok {
				c, err := cid.Decode(s)
				if err != nil {
					t.Fatalf("round %d: child printed %q", round, line)
				}
				acked = append(acked, c)
			}
		}
		t.Logf("round %d: killed at %.0f%% (%v), %d blocks acknowledged", round, 100*frac, delay.Round(time.Millisecond), len(acked))

		// The lock died with the child; the store reopens consistent and
		// holds every acknowledged block intact.
		l, err := openLocalAt(dir, io.Discard)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		for _, c := range acked {
			data, err := l.l.Block(context.Background(), c)
			if err != nil {
				l.Close()
				t.Fatalf("round %d: acknowledged block %s: %v", round, c, err)
			}
			if err := chunk.CheckHash(c.Hash(), data); err != nil {
				l.Close()
				t.Fatalf("round %d: acknowledged block %s: %v", round, c, err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if r := cairn(t, dir, nil, "repo", "verify"); r.code != 0 {
			t.Fatalf("round %d: repo verify after SIGKILL: exit %d\n%s%s", round, r.code, r.stdout, r.stderr)
		}
	}
	if killed == 0 {
		t.Fatal("every child finished before its kill: the test crashed nothing")
	}
}
