package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/repo"
)

// manyFiles is a folder of n files of 16 to 47 bytes, each distinct, so
// each is one raw block: a tree of n+shards blocks with no file bytes to
// speak of, which is what makes an index large.
type manyFiles struct {
	n, next int
	root    bool
}

func (m *manyFiles) Next() (chunk.TreeEntry, error) {
	if !m.root {
		m.root = true
		return chunk.TreeEntry{Path: "", Kind: chunk.EntryDir}, nil
	}
	if m.next == m.n {
		return chunk.TreeEntry{}, io.EOF
	}
	i := m.next
	m.next++
	body := binary.BigEndian.AppendUint64([]byte("cairn million "), uint64(i))
	body = append(body, bytes.Repeat([]byte{'.'}, i%32)...)
	return chunk.TreeEntry{Path: fmt.Sprintf("f%07d", i), Kind: chunk.EntryFile, Body: bytes.NewReader(body)}, nil
}

// runMillion measures a node holding files+ blocks under one pin: the
// offline add that builds it, then a daemon's start (until its API
// answers), its resident memory once idle, and repo verify, pin ls and
// repo gc through it, each timed.
func runMillion(cairn string, files int, dir string) error {
	repoDir := filepath.Join(dir, "million")
	env := append(os.Environ(), "CAIRN_PATH="+repoDir)
	for _, args := range [][]string{{"init"}, {"config", "Replication.WriteQuorum", "1"}, {"config", "Replication.Factor", "1"}} {
		cmd := exec.Command(cairn, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cairn %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	r, err := repo.Open(repoDir)
	if err != nil {
		return err
	}
	l, err := node.OpenLocal(r)
	if err != nil {
		r.Close()
		return err
	}
	start := time.Now()
	res, err := l.AddTree(context.Background(), &manyFiles{n: files}, chunk.DirOptions{Name: "million"})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	r.Close()
	if err != nil {
		return fmt.Errorf("million: add: %w", err)
	}
	add := time.Since(start)
	fmt.Printf("\nmillion: %d files in one folder, %d blocks, added offline in %v (%.0f blocks/s): %s\n",
		files, res.Blocks, add.Round(time.Millisecond), float64(res.Blocks)/add.Seconds(), res.Root)

	for round := 1; round <= 2; round++ {
		t0 := time.Now()
		var extra []string
		if name := os.Getenv("CAIRN_MEMPROFILE"); name != "" {
			// A heap profile of each start, written as it stops.
			extra = append(extra, fmt.Sprintf("CAIRN_MEMPROFILE=%s.start%d", name, round))
		}
		d, err := startDaemonOn(cairn, repoDir, extra...)
		if err != nil {
			return err
		}
		ready := time.Since(t0)
		rss := []string{}
		for _, after := range []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second} {
			time.Sleep(time.Until(t0.Add(after))) // a measurement at a set age, not a synchronisation
			rss = append(rss, fmt.Sprintf("%v: %d MiB", after, residentKiB(d.cmd.Process.Pid)>>10))
		}
		fmt.Printf("million: start %d: API answers after %v; resident %s\n", round, ready.Round(time.Millisecond), strings.Join(rss, ", "))
		if round == 2 {
			for _, c := range [][]string{{"pin", "ls"}, {"repo", "verify"}, {"repo", "gc"}} {
				t := time.Now()
				cmd := exec.Command(cairn, c...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil {
					d.stop()
					return fmt.Errorf("cairn %s: %v: %s", strings.Join(c, " "), err, out)
				}
				fmt.Printf("million: cairn %s: %v (%d bytes of output)\n", strings.Join(c, " "), time.Since(t).Round(time.Millisecond), len(out))
			}
		}
		d.stop()
	}
	return nil
}

// startDaemonOn starts a daemon on an existing repo, on loopback, with
// env added to its environment, and waits until its API answers.
func startDaemonOn(bin, repoDir string, env ...string) (*daemon, error) {
	os.Remove(filepath.Join(repoDir, "api"))
	cmd := exec.Command(bin, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--gateway", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "CAIRN_PATH="+repoDir), env...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{repo: repoDir, cmd: cmd}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if b, err := os.ReadFile(filepath.Join(repoDir, "api")); err == nil {
			d.base = strings.TrimSpace(string(b))
			if err := d.call("GET", "/api/v1/id", nil, nil); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("the daemon on %s did not answer within 2 minutes", repoDir)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	tok, err := os.ReadFile(filepath.Join(repoDir, "api-token"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.token = strings.TrimSpace(string(tok))
	return d, nil
}

// cpuSeconds is the CPU time (user and system) a process has used so
// far, 0 if unknown.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from after it. utime and stime are the 14th and 15th fields.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ is 100 on Linux
}

// machineTicks are the machine's CPU ticks so far (/proc/stat): busy
// (user, nice, system, irq, softirq, steal), idle and iowait.
func machineTicks() (busy, idle, iowait float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0
	}
	v := make([]float64, 8)
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[3], v[4]
}

// residentKiB is a process's resident set (VmRSS), 0 if unknown.
func residentKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
