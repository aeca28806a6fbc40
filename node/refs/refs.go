// Package refs is a node's reference index: for each pinned root, the
// blocks its DAG reaches, and for each block, the roots that reach it. It
// lets a node decide whether a block is still wanted with one lookup,
// without walking any DAG, on a node that holds only some of a DAG's
// blocks (the index lists them all, held or not).
//
// A root stays in the index for a grace period after it leaves the pin
// set (Unpin marks when), so its blocks are kept until the grace is over
// and an unpin can be undone; Expire then drops it. Every change is one
// synced goleveldb batch, so a crash leaves a root indexed in full or
// not at all.
package refs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Keys, under a prefix of their own in a database shared with others:
//
//	x/r/ root                    8-byte big-endian Unix ns of the unpin, 0 while pinned
//	x/b/ len(mh) mh root         a block the root reaches (empty value)
//	x/l/ len(root) root page     the root's blocks, uvarint-length-prefixed, 1,024 a page
var (
	prefixRoot  = []byte("x/r/")
	prefixBlock = []byte("x/b/")
	prefixList  = []byte("x/l/")
)

const pageSize = 1024

// Index is the reference index. Its methods are safe for concurrent use.
type Index struct {
	db DB
	mu sync.Mutex // orders read-modify-write of a root's entry
}

// DB is the goleveldb the index lives in: a *leveldb.DB, or one that
// reopens itself after a full disk (node/reopen).
type DB interface {
	Has(key []byte, ro *opt.ReadOptions) (bool, error)
	Get(key []byte, ro *opt.ReadOptions) ([]byte, error)
	Put(key, value []byte, wo *opt.WriteOptions) error
	Write(b *leveldb.Batch, wo *opt.WriteOptions) error
	NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator
}

// New uses db (which the caller opens and closes) for the index.
func New(db DB) *Index { return &Index{db: db} }

var sync1 = &opt.WriteOptions{Sync: true}

func rootKey(root cid.Cid) []byte { return append(append([]byte(nil), prefixRoot...), root.Bytes()...) }

func blockPrefix(k mh.Multihash) []byte {
	b := append([]byte(nil), prefixBlock...)
	b = binary.AppendUvarint(b, uint64(len(k)))
	return append(b, k...)
}

func listPrefix(root cid.Cid) []byte {
	b := append([]byte(nil), prefixList...)
	rb := root.Bytes()
	b = binary.AppendUvarint(b, uint64(len(rb)))
	return append(b, rb...)
}

// Add indexes root as reaching keys (every block of its DAG, root
// included), or marks an indexed root pinned again.
func (x *Index) Add(root cid.Cid, keys []mh.Multihash) error {
	return x.AddMany([]Entry{{Root: root, Keys: keys}})
}

// Entry is a root and the blocks it reaches, for AddMany.
type Entry struct {
	Root cid.Cid
	Keys []mh.Multihash
}

// AddMany is Add for many roots in one synced batch: a set of 100,000
// small pins is indexed in a few hundred commits, not 100,000.
func (x *Index) AddMany(entries []Entry) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	// Sized up front: a batch grows by a fraction of itself once it holds
	// thousands of records, so a root of a million blocks copied it over
	// and over (21 GB allocated to index one).
	var fresh []Entry // roots not indexed yet, whose keys go in
	for _, e := range entries {
		ok, err := x.db.Has(rootKey(e.Root), nil)
		if err != nil {
			return fmt.Errorf("refs: %w", err)
		}
		if !ok {
			fresh = append(fresh, e)
		}
	}
	b := leveldb.MakeBatch(batchSize(fresh) + len(entries)*64)
	for _, e := range entries {
		b.Put(rootKey(e.Root), make([]byte, 8))
	}
	for _, e := range fresh {
		addKeys(b, e.Root, e.Keys)
	}
	if err := x.db.Write(b, sync1); err != nil {
		return fmt.Errorf("refs: index %d roots: %w", len(entries), err)
	}
	return nil
}

// batchSize bounds the bytes of AddMany's batch from above: per record a
// type byte and two length varints around its key and value.
func batchSize(entries []Entry) int {
	const rec = 1 + 2*binary.MaxVarintLen32
	n := 0
	for _, e := range entries {
		rb := len(e.Root.Bytes())
		n += rec + len(prefixRoot) + rb + 8
		for _, k := range e.Keys {
			// its reverse entry, and its place in a page
			n += rec + len(prefixBlock) + binary.MaxVarintLen32 + len(k) + rb
			n += binary.MaxVarintLen32 + len(k)
		}
		n += (len(e.Keys)/pageSize + 1) * (rec + len(prefixList) + binary.MaxVarintLen32 + rb + 4)
	}
	return n
}

// addKeys puts a root's references and its pages of keys in b.
func addKeys(b *leveldb.Batch, root cid.Cid, keys []mh.Multihash) {
	rb := root.Bytes()
	var page []byte
	n := 0
	flush := func() {
		b.Put(binary.BigEndian.AppendUint32(listPrefix(root), uint32(n/pageSize)), page)
		page = nil
	}
	for _, k := range keys {
		b.Put(append(blockPrefix(k), rb...), nil)
		page = binary.AppendUvarint(page, uint64(len(k)))
		page = append(page, k...)
		n++
		if n%pageSize == 0 {
			flush()
		}
	}
	if n%pageSize != 0 || n == 0 {
		n += pageSize - 1 // the last, partial page's number
		flush()
	}
}

// State is where a root stands in the index.
type State struct {
	Indexed    bool
	UnpinnedAt time.Time // zero while pinned
}

// Root reports root's state.
func (x *Index) Root(root cid.Cid) (State, error) {
	v, err := x.db.Get(rootKey(root), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("refs: %w", err)
	}
	return decodeState(v)
}

func decodeState(v []byte) (State, error) {
	if len(v) != 8 {
		return State{}, fmt.Errorf("refs: root entry of %d bytes", len(v))
	}
	st := State{Indexed: true}
	if ns := int64(binary.BigEndian.Uint64(v)); ns != 0 {
		st.UnpinnedAt = time.Unix(0, ns)
	}
	return st, nil
}

// Unpin marks an indexed, pinned root as unpinned at at: its blocks stay
// referenced until Expire drops it. An unknown or already unpinned root
// is left as it is.
func (x *Index) Unpin(root cid.Cid, at time.Time) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	st, err := x.Root(root)
	if err != nil || !st.Indexed || !st.UnpinnedAt.IsZero() {
		return err
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	if err := x.db.Put(rootKey(root), v, sync1); err != nil {
		return fmt.Errorf("refs: unpin %s: %w", root, err)
	}
	return nil
}

// Roots calls fn with every indexed root and its state.
func (x *Index) Roots(fn func(root cid.Cid, st State) error) error {
	it := x.db.NewIterator(util.BytesPrefix(prefixRoot), nil)
	defer it.Release()
	for it.Next() {
		root, err := cid.Cast(it.Key()[len(prefixRoot):])
		if err != nil {
			return fmt.Errorf("refs: bad root entry: %w", err)
		}
		st, err := decodeState(it.Value())
		if err != nil {
			return err
		}
		if err := fn(root, st); err != nil {
			return err
		}
	}
	return it.Error()
}

// Expire drops the roots unpinned at least grace before now, with their
// references, and returns them.
func (x *Index) Expire(now time.Time, grace time.Duration) ([]cid.Cid, error) {
	due, err := x.Due(now, grace)
	if err != nil {
		return nil, err
	}
	for _, root := range due {
		if err := x.Drop(root); err != nil {
			return nil, err
		}
	}
	return due, nil
}

// Due lists the roots unpinned at least grace before now: a caller frees
// their blocks, then drops them, so a crash in between leaves them due.
func (x *Index) Due(now time.Time, grace time.Duration) ([]cid.Cid, error) {
	var due []cid.Cid
	err := x.Roots(func(root cid.Cid, st State) error {
		if !st.UnpinnedAt.IsZero() && !now.Before(st.UnpinnedAt.Add(grace)) {
			due = append(due, root)
		}
		return nil
	})
	return due, err
}

// Drop removes an unpinned root and its references in one batch, unless
// it was pinned again meanwhile.
func (x *Index) Drop(root cid.Cid) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	st, err := x.Root(root)
	if err != nil || !st.Indexed || st.UnpinnedAt.IsZero() {
		return err
	}
	var b leveldb.Batch
	b.Delete(rootKey(root))
	rb := root.Bytes()
	err = x.keys(root, func(k mh.Multihash) error {
		b.Delete(append(blockPrefix(k), rb...))
		return nil
	}, func(page []byte) { b.Delete(page) })
	if err != nil {
		return err
	}
	if err := x.db.Write(&b, sync1); err != nil {
		return fmt.Errorf("refs: drop %s: %w", root, err)
	}
	return nil
}

// Keys calls fn with every block root reaches, as indexed.
func (x *Index) Keys(root cid.Cid, fn func(mh.Multihash) error) error {
	return x.keys(root, fn, nil)
}

func (x *Index) keys(root cid.Cid, fn func(mh.Multihash) error, pageKey func([]byte)) error {
	it := x.db.NewIterator(util.BytesPrefix(listPrefix(root)), nil)
	defer it.Release()
	for it.Next() {
		if pageKey != nil {
			pageKey(append([]byte(nil), it.Key()...))
		}
		v := it.Value()
		for len(v) > 0 {
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return fmt.Errorf("refs: %s: damaged block list", root)
			}
			if err := fn(mh.Multihash(append([]byte(nil), v[w:w+int(n)]...))); err != nil {
				return err
			}
			v = v[w+int(n):]
		}
	}
	return it.Error()
}

// Referenced reports whether an indexed root, pinned or within its
// grace, reaches the block.
func (x *Index) Referenced(k mh.Multihash) (bool, error) {
	it := x.db.NewIterator(util.BytesPrefix(blockPrefix(k)), nil)
	defer it.Release()
	ok := it.Next()
	return ok, it.Error()
}

// RootsOf lists the indexed roots that reach the block.
func (x *Index) RootsOf(k mh.Multihash) ([]cid.Cid, error) {
	p := blockPrefix(k)
	it := x.db.NewIterator(util.BytesPrefix(p), nil)
	defer it.Release()
	var out []cid.Cid
	for it.Next() {
		root, err := cid.Cast(it.Key()[len(p):])
		if err != nil {
			return nil, fmt.Errorf("refs: bad reference: %w", err)
		}
		out = append(out, root)
	}
	return out, it.Error()
}

// Pinned reports whether a pinned root (not one within its grace)
// reaches the block.
func (x *Index) Pinned(k mh.Multihash) (bool, error) {
	p := blockPrefix(k)
	it := x.db.NewIterator(util.BytesPrefix(p), nil)
	defer it.Release()
	for it.Next() {
		root, err := cid.Cast(it.Key()[len(p):])
		if err != nil {
			return false, fmt.Errorf("refs: bad reference: %w", err)
		}
		st, err := x.Root(root)
		if err != nil {
			return false, err
		}
		if st.Indexed && st.UnpinnedAt.IsZero() {
			return true, nil
		}
	}
	return false, it.Error()
}
