package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnstore/cairn/chunk"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ForEach calls fn with the multihash of every block the store holds, in
// no particular order. It sees a consistent view of what was committed when
// it started, plus blocks not yet committed then. fn may call other Store
// methods.
func (s *Store) ForEach(ctx context.Context, fn func(mh.Multihash) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	snap, err := s.db.GetSnapshot()
	var extra []mh.Multihash
	for k, p := range s.pending {
		if !p.move {
			extra = append(extra, mh.Multihash(k))
		}
	}
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	defer snap.Release()

	it := snap.NewIterator(util.BytesPrefix(prefixIndex), nil)
	defer it.Release()
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := append(mh.Multihash(nil), it.Key()[len(prefixIndex):]...)
		if err := fn(key); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	for _, k := range extra {
		// A commit between our snapshot and reading pending put this key
		// in both; visit it once.
		if ok, err := snap.Has(indexKey(k), nil); err != nil || ok {
			if err != nil {
				return fmt.Errorf("store: iterate: %w", err)
			}
			continue
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// VerifyResult is the outcome of a full check.
type VerifyResult struct {
	Checked int64
	Failed  []VerifyFailure
}

// VerifyFailure names a block that failed its check.
type VerifyFailure struct {
	Hash mh.Multihash
	Err  error
}

// Verify reads every block, checking its record's CRC and re-hashing its
// bytes against its multihash. progress, if set, is called after each
// block with the number checked so far.
func (s *Store) Verify(ctx context.Context, progress func(checked int64)) (VerifyResult, error) {
	var res VerifyResult
	var buf []byte // one buffer for every block: each is checked and dropped
	err := s.ForEach(ctx, func(key mh.Multihash) error {
		var data []byte
		var err error
		data, buf, err = s.getHash(key, buf)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil // deleted while we walked
		case errors.Is(err, ErrClosed):
			return err
		case err == nil:
			if herr := chunk.CheckHash(key, data); herr != nil {
				err = fmt.Errorf("%w: %v", ErrCorrupt, herr)
			}
		}
		res.Checked++
		if err != nil {
			res.Failed = append(res.Failed, VerifyFailure{Hash: key, Err: err})
		}
		if progress != nil {
			progress(res.Checked)
		}
		return nil
	})
	return res, err
}

// GetHash reads a block by multihash; the store is keyed by multihash, so
// callers that walk it (the scrubber, verify) need no CID.
func (s *Store) GetHash(key mh.Multihash) ([]byte, error) {
	data, _, err := s.getHash(key, nil)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key.B58String(), err)
	}
	return data, nil
}
