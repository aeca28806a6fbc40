package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFile holds an exclusive flock on the repo's lock file.
type lockFile struct {
	f    *os.File
	name string
}

// acquireLock takes the repo lock without blocking. It creates the lock file
// if needed; the file is never removed, because removing it while another
// process waits on (or holds) a lock on it would let two processes lock two
// different inodes under the same name. The one exception is a failing Init
// removing a lock file it created itself, which it does while still holding
// the lock (see Init and lockFile.isCurrent).
//
// created reports whether this call created the lock file, also when err is
// not nil: only then may a failing Init remove it.
func acquireLock(path string) (l *lockFile, created bool, err error) {
	name := filepath.Join(path, lockFileName)
	f, created, err := openLockFile(name)
	if err != nil {
		return nil, false, fmt.Errorf("repo: open lock file: %w", err)
	}
	// Use the raw descriptor through SyscallConn: f.Fd() would switch the
	// file to blocking mode as a side effect.
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, created, fmt.Errorf("repo: lock %s: %w", name, err)
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
		return nil, created, fmt.Errorf("repo: lock %s: %w", name, err)
	}
	if flockErr != nil {
		_ = f.Close()
		if errors.Is(flockErr, unix.EWOULDBLOCK) {
			return nil, created, newError(ErrLocked, nil, "repo %s is locked by another process (is a cairn daemon running?)", path)
		}
		return nil, created, fmt.Errorf("repo: lock %s: %w", name, flockErr)
	}
	return &lockFile{f: f, name: name}, created, nil
}

// openLockFile opens the lock file name, creating it if it is missing, and
// reports whether it created it. Creating with O_EXCL (rather than plain
// O_CREATE) is what makes that report reliable when another process creates
// the file at the same moment.
func openLockFile(name string) (f *os.File, created bool, err error) {
	// The file can vanish between the two opens only if a failing Init
	// removed its own lock file; a few tries are plenty. The bound also
	// stops a dangling symlink (EEXIST for O_EXCL, ENOENT when followed)
	// from looping forever.
	for range 3 {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		f, err = os.OpenFile(name, os.O_RDWR, 0)
		if err == nil {
			return f, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
	}
	return nil, false, err
}

// isCurrent reports whether the lock file's name still refers to the file
// this lock is held on. A failing Init removes a lock file it created (while
// holding the lock); a racer that opened that file before the removal and
// locked it after the release holds a lock nobody else can see, and a new
// lock file under the same name could be locked at the same time.
func (l *lockFile) isCurrent() (bool, error) {
	held, err := l.f.Stat()
	if err != nil {
		return false, err
	}
	named, err := os.Stat(l.name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, named), nil
}

// release drops the lock by closing the descriptor; the kernel releases
// the flock with the last reference to the open file description.
func (l *lockFile) release() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("repo: release lock: %w", err)
	}
	return nil
}
