// Package reopen keeps a goleveldb database usable after a full disk.
//
// goleveldb keeps the first error writing its journal for good: once a
// write has failed for want of space, every later write fails the same
// way, even after the space is back, until the database is reopened. A
// node whose disk filled for a minute would be unable to pin anything
// until restarted. DB reopens the database when a write fails with
// ENOSPC, EDQUOT or EIO (and again, at most once a second, while reopening
// fails): what was committed is in the journal and tables, and the write
// that failed was never acknowledged.
//
// It serves the database both as a go-datastore (Datastore, for the pin
// set's CRDT and the DHT) and as plain goleveldb calls (the reference
// index's).
package reopen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dsleveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("reopen: database closed")

// DB is a goleveldb database that reopens itself after a failed write.
type DB struct {
	path string
	opts *dsleveldb.Options
	logf func(string, ...any)

	mu      sync.RWMutex
	cur     *dsleveldb.Datastore // nil while reopening fails
	gen     uint64               // bumped when cur is given up
	lastTry time.Time
	lastErr error
	closed  bool
}

// Open opens the database at path; logf (may be nil) hears of reopens.
func Open(path string, opts *dsleveldb.Options, logf func(string, ...any)) (*DB, error) {
	d, err := dsleveldb.NewDatastore(path, opts)
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &DB{path: path, opts: opts, logf: logf, cur: d}, nil
}

// get returns the open database and its generation, reopening it first
// if an earlier reopen failed.
func (db *DB) get() (*dsleveldb.Datastore, uint64, error) {
	db.mu.RLock()
	d, gen, closed := db.cur, db.gen, db.closed
	db.mu.RUnlock()
	switch {
	case closed:
		return nil, 0, ErrClosed
	case d != nil:
		return d, gen, nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.cur == nil && !db.closed && time.Since(db.lastTry) >= time.Second {
		db.tryOpen()
	}
	if db.cur == nil {
		return nil, 0, fmt.Errorf("reopen: %s unavailable: %w", db.path, db.lastErr)
	}
	return db.cur, db.gen, nil
}

// tryOpen opens the database; db.mu is held.
func (db *DB) tryOpen() {
	db.lastTry = time.Now()
	d, err := dsleveldb.NewDatastore(db.path, db.opts)
	if err != nil {
		db.lastErr = err
		db.logf("reopen: %s: %v (retrying)", db.path, err)
		return
	}
	db.cur, db.lastErr = d, nil
	db.logf("reopen: %s reopened after a failed write", db.path)
}

// needsReopen says whether a write error leaves goleveldb stuck.
func needsReopen(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO)
}

// failed notes a write's error: if it is one goleveldb keeps, the
// database of generation gen is closed and reopened.
func (db *DB) failed(gen uint64, err error) error {
	if err == nil || !needsReopen(err) {
		return err
	}
	db.mu.Lock()
	if db.closed || db.gen != gen || db.cur == nil {
		db.mu.Unlock()
		return err // closed, or another write has reopened it already
	}
	old := db.cur
	db.cur, db.lastErr = nil, err
	db.gen++ // writes failing on old now leave it alone
	db.mu.Unlock()
	// Closed outside the lock: goleveldb's Close waits for calls in
	// flight, which may be about to come here.
	old.Close() // returns the journal's kept error: nothing more to learn
	db.mu.Lock()
	if db.cur == nil && !db.closed {
		db.tryOpen()
	}
	db.mu.Unlock()
	return err
}

// Close closes the database.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closed = true
	if db.cur == nil {
		return nil
	}
	err := db.cur.Close()
	db.cur = nil
	return err
}

// The goleveldb calls of the reference index.

// Has reports whether key is set.
func (db *DB) Has(key []byte, ro *opt.ReadOptions) (bool, error) {
	d, _, err := db.get()
	if err != nil {
		return false, err
	}
	return d.DB.Has(key, ro)
}

// Get reads key.
func (db *DB) Get(key []byte, ro *opt.ReadOptions) ([]byte, error) {
	d, _, err := db.get()
	if err != nil {
		return nil, err
	}
	return d.DB.Get(key, ro)
}

// Put writes key.
func (db *DB) Put(key, value []byte, wo *opt.WriteOptions) error {
	d, gen, err := db.get()
	if err != nil {
		return err
	}
	return db.failed(gen, d.DB.Put(key, value, wo))
}

// Write applies a batch.
func (db *DB) Write(b *leveldb.Batch, wo *opt.WriteOptions) error {
	d, gen, err := db.get()
	if err != nil {
		return err
	}
	return db.failed(gen, d.DB.Write(b, wo))
}

// NewIterator iterates over slice; a database that cannot be opened
// gives an iterator that holds the error.
func (db *DB) NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator {
	d, _, err := db.get()
	if err != nil {
		return iterator.NewEmptyIterator(err)
	}
	return d.DB.NewIterator(slice, ro)
}

// Datastore is the database as a go-datastore.
func (db *DB) Datastore() ds.Batching { return datastore{db} }

type datastore struct{ db *DB }

func (s datastore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	d, _, err := s.db.get()
	if err != nil {
		return nil, err
	}
	return d.Get(ctx, k)
}

func (s datastore) Has(ctx context.Context, k ds.Key) (bool, error) {
	d, _, err := s.db.get()
	if err != nil {
		return false, err
	}
	return d.Has(ctx, k)
}

func (s datastore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	d, _, err := s.db.get()
	if err != nil {
		return -1, err
	}
	return d.GetSize(ctx, k)
}

func (s datastore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	d, _, err := s.db.get()
	if err != nil {
		return nil, err
	}
	return d.Query(ctx, q)
}

func (s datastore) Put(ctx context.Context, k ds.Key, v []byte) error {
	d, gen, err := s.db.get()
	if err != nil {
		return err
	}
	return s.db.failed(gen, d.Put(ctx, k, v))
}

func (s datastore) Delete(ctx context.Context, k ds.Key) error {
	d, gen, err := s.db.get()
	if err != nil {
		return err
	}
	return s.db.failed(gen, d.Delete(ctx, k))
}

func (s datastore) Sync(ctx context.Context, prefix ds.Key) error {
	d, gen, err := s.db.get()
	if err != nil {
		return err
	}
	return s.db.failed(gen, d.Sync(ctx, prefix))
}

// Close closes the database.
func (s datastore) Close() error { return s.db.Close() }

func (s datastore) Batch(ctx context.Context) (ds.Batch, error) {
	d, gen, err := s.db.get()
	if err != nil {
		return nil, err
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return nil, s.db.failed(gen, err)
	}
	return batch{b, s.db, gen}, nil
}

// batch commits into the database it was made on; a commit that fails
// for want of space reopens it (the batch itself is lost, as its write
// was).
type batch struct {
	ds.Batch
	db  *DB
	gen uint64
}

func (b batch) Commit(ctx context.Context) error {
	return b.db.failed(b.gen, b.Batch.Commit(ctx))
}
