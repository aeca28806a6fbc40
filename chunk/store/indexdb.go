package store

import (
	"github.com/cairnstore/cairn/chunk/store/reopen"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// indexDB is the store's goleveldb index, reopened after a write fails for
// want of space: goleveldb would otherwise refuse every later commit, and
// the store with it, until restarted (package reopen).
type indexDB struct {
	h *reopen.Handle[*leveldb.DB]
}

func openIndex(path string, logf func(string, ...any)) (*indexDB, error) {
	o := &opt.Options{
		Filter:                 filter.NewBloomFilter(10),
		BlockCacheCapacity:     8 << 20,
		WriteBuffer:            4 << 20,
		OpenFilesCacheCapacity: 64,
	}
	h, err := reopen.Open(path, func() (*leveldb.DB, error) { return leveldb.OpenFile(path, o) }, logf)
	if err != nil {
		return nil, err
	}
	return &indexDB{h: h}, nil
}

func (x *indexDB) Close() error { return x.h.Close() }

func (x *indexDB) Get(key []byte, ro *opt.ReadOptions) ([]byte, error) {
	db, _, err := x.h.Get()
	if err != nil {
		return nil, err
	}
	return db.Get(key, ro)
}

func (x *indexDB) Has(key []byte, ro *opt.ReadOptions) (bool, error) {
	db, _, err := x.h.Get()
	if err != nil {
		return false, err
	}
	return db.Has(key, ro)
}

func (x *indexDB) Put(key, value []byte, wo *opt.WriteOptions) error {
	db, gen, err := x.h.Get()
	if err != nil {
		return err
	}
	return x.h.Failed(gen, db.Put(key, value, wo))
}

func (x *indexDB) Delete(key []byte, wo *opt.WriteOptions) error {
	db, gen, err := x.h.Get()
	if err != nil {
		return err
	}
	return x.h.Failed(gen, db.Delete(key, wo))
}

func (x *indexDB) Write(b *leveldb.Batch, wo *opt.WriteOptions) error {
	db, gen, err := x.h.Get()
	if err != nil {
		return err
	}
	return x.h.Failed(gen, db.Write(b, wo))
}

func (x *indexDB) NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator {
	db, _, err := x.h.Get()
	if err != nil {
		return iterator.NewEmptyIterator(err)
	}
	return db.NewIterator(slice, ro)
}

func (x *indexDB) GetSnapshot() (*leveldb.Snapshot, error) {
	db, _, err := x.h.Get()
	if err != nil {
		return nil, err
	}
	return db.GetSnapshot()
}
