package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// holdLockEnv switches the test binary into a helper that opens the repo
// named by the variable, prints "locked" and holds the lock until its stdin
// closes (so it also exits if the parent test dies).
const holdLockEnv = "CAIRN_REPO_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		r, err := Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "open:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = r.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestOpenTwiceInProcessIsLocked(t *testing.T) {
	path := initRepo(t)
	r1, err := Open(path)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	_, err = Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("repo %s is locked by another process (is a cairn daemon running?)", path)
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if err := r1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r1.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	r2, err := Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	r2.Close()
	if _, err := os.Stat(filepath.Join(path, lockFileName)); err != nil {
		t.Errorf("lock file should stay in place: %v", err)
	}
}

func TestLockIsReleasedWhenHolderIsKilled(t *testing.T) {
	path := initRepo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // kept open: the child holds the lock until EOF
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "locked\n" {
			err = fmt.Errorf("child said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child did not take the lock: %v", err)
		}
	case <-ctx.Done():
		_ = cmd.Wait()
		t.Fatal("timed out waiting for the child to take the lock")
	}

	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while child holds the lock: err = %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait() // "signal: killed" is expected

	r, err := Open(path)
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	r.Close()
}

func TestAcquireLockReportsCreation(t *testing.T) {
	dir := t.TempDir()
	l, created, err := acquireLock(dir)
	if err != nil || !created {
		t.Fatalf("first acquireLock: created = %v, err = %v; want true, nil", created, err)
	}
	if _, created, err := acquireLock(dir); !errors.Is(err, ErrLocked) || created {
		t.Errorf("acquireLock while held: created = %v, err = %v; want false, ErrLocked", created, err)
	}
	if err := l.release(); err != nil {
		t.Fatal(err)
	}
	l, created, err = acquireLock(dir)
	if err != nil || created {
		t.Fatalf("acquireLock of an existing file: created = %v, err = %v; want false, nil", created, err)
	}
	l.release()
}

func TestLockIsCurrent(t *testing.T) {
	dir := t.TempDir()
	l, _, err := acquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	if ok, err := l.isCurrent(); !ok || err != nil {
		t.Fatalf("isCurrent = %v, %v; want true", ok, err)
	}
	name := filepath.Join(dir, lockFileName)
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.isCurrent(); ok || err != nil {
		t.Errorf("isCurrent after removal = %v, %v; want false", ok, err)
	}
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.isCurrent(); ok || err != nil {
		t.Errorf("isCurrent after replacement = %v, %v; want false", ok, err)
	}
}
