package ldstore

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Unsynced is the database as a datastore whose writes are not synced one
// by one, for soft state that can be rebuilt: the DHT's provider records
// (republished by their providers) and its keystore (walked again from
// the block store after any stop that was not clean). Its Sync does
// nothing (the keystore calls it after every write); DB.Sync makes every
// write before it durable. go-ds-leveldb syncs every Put, which made each
// provider record a node stored cost an fsync: 20 nodes announcing 100,000
// blocks to each other spent most of six minutes in them.
func (db *DB) Unsynced() ds.Batching { return unsynced{datastore{db.h}} }

type unsynced struct{ datastore }

var (
	noSync   = &opt.WriteOptions{}
	withSync = &opt.WriteOptions{Sync: true}
	// syncKey is written, synced, by DB.Sync. It lies in the datastore's
	// key space, so a query of everything lists it; nothing queries that.
	syncKey = []byte("/ldstore/sync")
)

func (s unsynced) Put(_ context.Context, k ds.Key, v []byte) error {
	d, gen, err := s.h.Get()
	if err != nil {
		return err
	}
	return s.h.Failed(gen, d.DB.Put(k.Bytes(), v, noSync))
}

func (s unsynced) Delete(_ context.Context, k ds.Key) error {
	d, gen, err := s.h.Get()
	if err != nil {
		return err
	}
	return s.h.Failed(gen, d.DB.Delete(k.Bytes(), noSync))
}

func (s unsynced) Sync(context.Context, ds.Key) error { return nil }

// Sync makes every write so far durable, the unsynced ones included. A
// synced write makes the current journal durable; writes in a journal
// goleveldb rotated out since may still be in the page cache only, so the
// memtable is flushed to tables too (a compaction of the one sync key
// rotates it and waits for the flush).
func (db *DB) Sync() error {
	d, gen, err := db.h.Get()
	if err != nil {
		return err
	}
	if err := d.DB.Put(syncKey, nil, withSync); err != nil {
		return db.h.Failed(gen, err)
	}
	r := util.Range{Start: syncKey, Limit: append(append([]byte(nil), syncKey...), 0)}
	return db.h.Failed(gen, d.DB.CompactRange(r))
}

func (s unsynced) Batch(context.Context) (ds.Batch, error) {
	return &unsyncedBatch{s: s}, nil
}

// unsyncedBatch gathers writes into one goleveldb batch; a commit that
// fails for want of space reopens the database, as batch's does.
type unsyncedBatch struct {
	s unsynced
	b leveldb.Batch
}

func (b *unsyncedBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.b.Put(k.Bytes(), v)
	return nil
}

func (b *unsyncedBatch) Delete(_ context.Context, k ds.Key) error {
	b.b.Delete(k.Bytes())
	return nil
}

func (b *unsyncedBatch) Commit(context.Context) error {
	d, gen, err := b.s.h.Get()
	if err != nil {
		return err
	}
	return b.s.h.Failed(gen, d.DB.Write(&b.b, noSync))
}
