package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Meta is one of the caller's keys, with its value, kept in the store's
// index database beside the blocks and committed with them. Keys are the
// caller's own namespace (the store prefixes them internally so they never
// collide with its own keys).
type Meta struct {
	Key    []byte
	Value  []byte
	Delete bool // remove Key instead of setting it
}

// A key is at most 4 KiB and a value at most 1 MiB, so that every op fits
// a segment record; an empty key is refused, as a record cannot hold one.
func validateMeta(meta []Meta) error {
	for _, m := range meta {
		switch {
		case len(m.Key) == 0:
			return errors.New("empty meta key")
		case len(m.Key) > maxMetaKeyLen:
			return fmt.Errorf("meta key of %d bytes (limit %d)", len(m.Key), maxMetaKeyLen)
		case len(m.Value) > maxMetaValueLen:
			return fmt.Errorf("meta value of %d bytes (limit %d)", len(m.Value), maxMetaValueLen)
		}
	}
	return nil
}

// pendingMeta is a meta op written to a segment but not yet in the index.
// seq tells a commit whether the op it wrote is still the latest for its
// key, or was replaced meanwhile and must stay pending.
type pendingMeta struct {
	value []byte
	del   bool
	seq   uint64
}

// addMetaBatch puts meta ops into an index batch, in order, so the last op
// on a key wins.
func addMetaBatch(b *leveldb.Batch, meta []Meta) {
	for _, m := range meta {
		if m.Delete {
			b.Delete(metaKey(m.Key))
		} else {
			b.Put(metaKey(m.Key), m.Value)
		}
	}
}

// GetMeta returns the value of one of the caller's keys, including one put
// by a PutWith not yet committed. A key not held gives ErrNotFound.
func (s *Store) GetMeta(key []byte) ([]byte, error) {
	v, ok, err := s.getMeta(key)
	if err != nil {
		return nil, fmt.Errorf("store: get meta %q: %w", key, err)
	}
	if !ok {
		return nil, fmt.Errorf("store: get meta %q: %w", key, ErrNotFound)
	}
	return v, nil
}

// HasMeta reports whether one of the caller's keys is set.
func (s *Store) HasMeta(key []byte) (bool, error) {
	_, ok, err := s.getMeta(key)
	if err != nil {
		return false, fmt.Errorf("store: has meta %q: %w", key, err)
	}
	return ok, nil
}

// getMeta looks in pending first, then the index, under one read lock: a
// commit writes the index before it drops its ops from pending, so an op is
// always found in one or the other.
func (s *Store) getMeta(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	if p, ok := s.pendingMeta[string(key)]; ok {
		if p.del {
			return nil, false, nil
		}
		return append([]byte{}, p.value...), true, nil
	}
	v, err := s.db.Get(metaKey(key), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("index: %w", err)
	}
	return v, true, nil
}

// ForEachMeta calls fn with each of the caller's keys that starts with
// prefix, and its value, in key order: what was committed when it started
// merged with what was pending then (a pending op overrides the committed
// value, and each key comes once). The slices are fn's to keep. fn may call
// other Store methods.
func (s *Store) ForEachMeta(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	// Snapshot and pending are taken under one lock, so no commit falls
	// between them and drops an op from both.
	snap, err := s.db.GetSnapshot()
	type op struct {
		key string
		pendingMeta
	}
	var pend []op
	for k, p := range s.pendingMeta {
		if bytes.HasPrefix([]byte(k), prefix) {
			pend = append(pend, op{k, p})
		}
	}
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("store: iterate meta: %w", err)
	}
	defer snap.Release()
	sort.Slice(pend, func(i, j int) bool { return pend[i].key < pend[j].key })

	emit := func(k string, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn([]byte(k), append([]byte{}, v...))
	}
	// emitPending sends the pending ops that sort before key (all, if key
	// is nil) and reports whether the next one is key itself.
	emitPending := func(key []byte) (bool, error) {
		for len(pend) > 0 {
			c := bytes.Compare([]byte(pend[0].key), key)
			if key != nil && c >= 0 {
				return c == 0, nil
			}
			p := pend[0]
			pend = pend[1:]
			if !p.del {
				if err := emit(p.key, p.value); err != nil {
					return false, err
				}
			}
		}
		return false, nil
	}

	it := snap.NewIterator(util.BytesPrefix(metaKey(prefix)), nil)
	defer it.Release()
	for it.Next() {
		key := it.Key()[len(prefixMeta):]
		same, err := emitPending(key)
		if err != nil {
			return err
		}
		if same {
			continue // the pending op replaces this value; sent in its turn
		}
		if err := emit(string(key), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: iterate meta: %w", err)
	}
	_, err = emitPending(nil)
	return err
}
