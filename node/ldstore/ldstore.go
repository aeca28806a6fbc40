// Package ldstore is the node's goleveldb datastores (the pin set's state,
// which the reference index shares, and the DHT's), reopened after a write
// fails for want of space (chunk/store/reopen says why), served both as a
// go-datastore and as the plain goleveldb calls of the reference index.
package ldstore

import (
	"context"

	"github.com/cairnstore/cairn/chunk/store/reopen"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dsleveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrClosed is returned after Close.
var ErrClosed = reopen.ErrClosed

// DB is a goleveldb datastore that reopens itself after a failed write.
type DB struct {
	h *reopen.Handle[*dsleveldb.Datastore]
}

// Open opens the database at path; logf (may be nil) hears of reopens.
func Open(path string, opts *dsleveldb.Options, logf func(string, ...any)) (*DB, error) {
	h, err := reopen.Open(path, func() (*dsleveldb.Datastore, error) { return dsleveldb.NewDatastore(path, opts) }, logf)
	if err != nil {
		return nil, err
	}
	return &DB{h: h}, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.h.Close() }

// The goleveldb calls of the reference index.

// Has reports whether key is set.
func (db *DB) Has(key []byte, ro *opt.ReadOptions) (bool, error) {
	d, _, err := db.h.Get()
	if err != nil {
		return false, err
	}
	return d.DB.Has(key, ro)
}

// Get reads key.
func (db *DB) Get(key []byte, ro *opt.ReadOptions) ([]byte, error) {
	d, _, err := db.h.Get()
	if err != nil {
		return nil, err
	}
	return d.DB.Get(key, ro)
}

// Put writes key.
func (db *DB) Put(key, value []byte, wo *opt.WriteOptions) error {
	d, gen, err := db.h.Get()
	if err != nil {
		return err
	}
	return db.h.Failed(gen, d.DB.Put(key, value, wo))
}

// Write applies a batch.
func (db *DB) Write(b *leveldb.Batch, wo *opt.WriteOptions) error {
	d, gen, err := db.h.Get()
	if err != nil {
		return err
	}
	return db.h.Failed(gen, d.DB.Write(b, wo))
}

// NewIterator iterates over slice; a database that cannot be opened
// gives an iterator that holds the error.
func (db *DB) NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator {
	d, _, err := db.h.Get()
	if err != nil {
		return iterator.NewEmptyIterator(err)
	}
	return d.DB.NewIterator(slice, ro)
}

// Datastore is the database as a go-datastore.
func (db *DB) Datastore() ds.Batching { return datastore{db.h} }

type datastore struct {
	h *reopen.Handle[*dsleveldb.Datastore]
}

func (s datastore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	d, _, err := s.h.Get()
	if err != nil {
		return nil, err
	}
	return d.Get(ctx, k)
}

func (s datastore) Has(ctx context.Context, k ds.Key) (bool, error) {
	d, _, err := s.h.Get()
	if err != nil {
		return false, err
	}
	return d.Has(ctx, k)
}

func (s datastore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	d, _, err := s.h.Get()
	if err != nil {
		return -1, err
	}
	return d.GetSize(ctx, k)
}

func (s datastore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	d, _, err := s.h.Get()
	if err != nil {
		return nil, err
	}
	return d.Query(ctx, q)
}

func (s datastore) Put(ctx context.Context, k ds.Key, v []byte) error {
	d, gen, err := s.h.Get()
	if err != nil {
		return err
	}
	return s.h.Failed(gen, d.Put(ctx, k, v))
}

func (s datastore) Delete(ctx context.Context, k ds.Key) error {
	d, gen, err := s.h.Get()
	if err != nil {
		return err
	}
	return s.h.Failed(gen, d.Delete(ctx, k))
}

func (s datastore) Sync(ctx context.Context, prefix ds.Key) error {
	d, gen, err := s.h.Get()
	if err != nil {
		return err
	}
	return s.h.Failed(gen, d.Sync(ctx, prefix))
}

// Close closes the database.
func (s datastore) Close() error { return s.h.Close() }

func (s datastore) Batch(ctx context.Context) (ds.Batch, error) {
	d, gen, err := s.h.Get()
	if err != nil {
		return nil, err
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return nil, s.h.Failed(gen, err)
	}
	return batch{b, s.h, gen}, nil
}

// batch commits into the database it was made on; a commit that fails
// for want of space reopens it (the batch itself is lost, as its write
// was).
type batch struct {
	ds.Batch
	h   *reopen.Handle[*dsleveldb.Datastore]
	gen uint64
}

func (b batch) Commit(ctx context.Context) error {
	return b.h.Failed(b.gen, b.Batch.Commit(ctx))
}
