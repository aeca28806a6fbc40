// Package reopen keeps a goleveldb database usable after a full disk.
//
// goleveldb keeps the first error writing its journal for good: once a
// write has failed for want of space, every later write fails the same
// way, even after the space is back, until the database is reopened. A
// node whose disk filled for a minute would refuse every write until
// restarted. A Handle reopens the database when a write fails with
// ENOSPC, EDQUOT or EIO (and again, at most once a second, while
// reopening fails): what was committed is in the journal and tables, and
// the write that failed was never acknowledged.
//
// The Handle is generic over what is opened (a *leveldb.DB, a go-datastore
// over one), so the block store's index and the node's datastores share it.
package reopen

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("reopen: database closed")

// Handle holds an open database and reopens it after a failed write.
type Handle[T io.Closer] struct {
	name string
	open func() (T, error)
	logf func(string, ...any)

	mu      sync.RWMutex
	cur     T
	ok      bool   // cur is open
	gen     uint64 // bumped when cur is given up
	lastTry time.Time
	lastErr error
	closed  bool
}

// Open opens the database with open; name is for errors and logf (may be
// nil), which hears of reopens.
func Open[T io.Closer](name string, open func() (T, error), logf func(string, ...any)) (*Handle[T], error) {
	d, err := open()
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Handle[T]{name: name, open: open, logf: logf, cur: d, ok: true}, nil
}

// Get returns the open database and its generation (for Failed),
// reopening it first if an earlier reopen failed.
func (h *Handle[T]) Get() (T, uint64, error) {
	h.mu.RLock()
	d, ok, gen, closed := h.cur, h.ok, h.gen, h.closed
	h.mu.RUnlock()
	var zero T
	switch {
	case closed:
		return zero, 0, ErrClosed
	case ok:
		return d, gen, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ok && !h.closed && time.Since(h.lastTry) >= time.Second {
		h.tryOpen()
	}
	if !h.ok {
		return zero, 0, fmt.Errorf("reopen: %s unavailable: %w", h.name, h.lastErr)
	}
	return h.cur, h.gen, nil
}

// tryOpen opens the database; h.mu is held.
func (h *Handle[T]) tryOpen() {
	h.lastTry = time.Now()
	d, err := h.open()
	if err != nil {
		h.lastErr = err
		h.logf("reopen: %s: %v (retrying)", h.name, err)
		return
	}
	h.cur, h.ok, h.lastErr = d, true, nil
	h.logf("reopen: %s reopened after a failed write", h.name)
}

// NeedsReopen says whether a write error leaves goleveldb stuck.
func NeedsReopen(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO)
}

// Failed is given a write's error on the database of generation gen: if
// goleveldb keeps that error, the database is closed and reopened. It
// returns err.
func (h *Handle[T]) Failed(gen uint64, err error) error {
	if err == nil || !NeedsReopen(err) {
		return err
	}
	h.mu.Lock()
	if h.closed || h.gen != gen || !h.ok {
		h.mu.Unlock()
		return err // closed, or another write has given it up already
	}
	old := h.cur
	h.ok, h.lastErr = false, err
	h.gen++ // writes failing on old now leave it alone
	h.mu.Unlock()
	// Closed outside the lock: goleveldb's Close waits for calls in
	// flight, which may be about to come here.
	old.Close() // returns the journal's kept error: nothing more to learn
	h.mu.Lock()
	if !h.ok && !h.closed {
		h.tryOpen()
	}
	h.mu.Unlock()
	return err
}

// Close closes the database.
func (h *Handle[T]) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if !h.ok {
		return nil
	}
	h.ok = false
	return h.cur.Close()
}
