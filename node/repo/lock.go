package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFile holds an exclusive flock on the repo's lock file.
type lockFile struct {
	f *os.File
}

// acquireLock takes the repo lock without blocking. It creates the lock file
// if needed; the file is never removed, because removing it while another
// process waits on (or holds) a lock on it would let two processes lock two
// different inodes under the same name.
func acquireLock(path string) (*lockFile, error) {
	name := filepath.Join(path, lockFileName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("repo: open lock file: %w", err)
	}
	// Use the raw descriptor through SyscallConn: f.Fd() would switch the
	// file to blocking mode as a side effect.
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("repo: lock %s: %w", name, err)
	}
	var flockErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			flockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if flockErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("repo: lock %s: %w", name, err)
	}
	if flockErr != nil {
		_ = f.Close()
		if errors.Is(flockErr, unix.EWOULDBLOCK) {
			return nil, newError(ErrLocked, nil, "repo %s is locked by another process (is a cairn daemon running?)", path)
		}
		return nil, fmt.Errorf("repo: lock %s: %w", name, flockErr)
	}
	return &lockFile{f: f}, nil
}

// release drops the lock by closing the descriptor; the kernel releases
// the flock with the last reference to the open file description.
func (l *lockFile) release() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("repo: release lock: %w", err)
	}
	return nil
}
