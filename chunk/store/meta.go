package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Index keys in goleveldb:
//
//	"i/" + multihash   -> loc (segment, offset, record length)
//	"s/" + uint32be id -> segMeta
//	"m/stats"          -> blocks, data bytes (what is committed)
//	"m/mark"           -> empty: no block indexed or deleted since Mark
//	"u/" + caller key  -> caller value (see Meta)
//
// Stores written before Meta existed may still hold "p/" (pins) and "d/"
// (replica duty) keys; the store no longer reads them.
var (
	prefixIndex = []byte("i/")
	prefixSeg   = []byte("s/")
	keyStats    = []byte("m/stats")
	keyMark     = []byte("m/mark")
	prefixMeta  = []byte("u/")
)

// loc is where a record lives.
type loc struct {
	seg uint32
	off int64
	n   int64 // whole record
}

func (l loc) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], l.seg)
	binary.BigEndian.PutUint64(b[4:], uint64(l.off))
	binary.BigEndian.PutUint32(b[12:], uint32(l.n))
	return b
}

func decodeLoc(b []byte) (loc, error) {
	if len(b) != 16 {
		return loc{}, fmt.Errorf("index entry of %d bytes", len(b))
	}
	return loc{
		seg: binary.BigEndian.Uint32(b[0:]),
		off: int64(binary.BigEndian.Uint64(b[4:])),
		n:   int64(binary.BigEndian.Uint32(b[12:])),
	}, nil
}

func indexKey(mh []byte) []byte {
	return append(append(make([]byte, 0, 2+len(mh)), prefixIndex...), mh...)
}

func metaKey(k []byte) []byte {
	return append(append(make([]byte, 0, len(prefixMeta)+len(k)), prefixMeta...), k...)
}

func segKey(id uint32) []byte {
	b := append([]byte(nil), prefixSeg...)
	return binary.BigEndian.AppendUint32(b, id)
}

// segMeta is what the index knows of a segment file: how many bytes of it
// are committed (fsynced, and every index entry points below this), how
// many of those are garbage, and whether compaction has emptied it.
type segMeta struct {
	committed int64
	garbage   int64
	dead      bool
}

func (m segMeta) encode() []byte {
	b := make([]byte, 17)
	binary.BigEndian.PutUint64(b[0:], uint64(m.committed))
	binary.BigEndian.PutUint64(b[8:], uint64(m.garbage))
	if m.dead {
		b[16] = 1
	}
	return b
}

func decodeSegMeta(b []byte) (segMeta, error) {
	if len(b) != 17 {
		return segMeta{}, fmt.Errorf("segment meta of %d bytes", len(b))
	}
	return segMeta{
		committed: int64(binary.BigEndian.Uint64(b[0:])),
		garbage:   int64(binary.BigEndian.Uint64(b[8:])),
		dead:      b[16] == 1,
	}, nil
}

type counts struct {
	blocks int64
	bytes  int64
}

func (c counts) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[0:], uint64(c.blocks))
	binary.BigEndian.PutUint64(b[8:], uint64(c.bytes))
	return b
}

func decodeCounts(b []byte) (counts, error) {
	if len(b) != 16 {
		return counts{}, fmt.Errorf("stats of %d bytes", len(b))
	}
	return counts{blocks: int64(binary.BigEndian.Uint64(b[0:])), bytes: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// Mark records, durably, that the caller has seen every block the store
// holds: Marked stays true until a block is next indexed or deleted (the
// commit that does it removes the mark in the same batch, so a crash
// cannot leave a mark over a change). A node marks its store at a clean
// stop once every block is known to its announcer, and at its next start
// skips walking the index if the mark is still there.
func (s *Store) Mark() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	pending := len(s.pending) > 0
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if pending {
		// Puts not yet committed are changes the caller may not have seen.
		return errors.New("store: mark: uncommitted puts")
	}
	if err := s.db.Put(keyMark, nil, syncWrite); err != nil {
		return fmt.Errorf("store: mark: %w", err)
	}
	s.marked = true
	return nil
}

// Marked reports whether no block was indexed or deleted since Mark.
func (s *Store) Marked() bool {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.marked
}

// Unmark removes the mark, as a change would: the caller learnt late of
// a block it has not seen.
func (s *Store) Unmark() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := s.db.Delete(keyMark, syncWrite); err != nil {
		return fmt.Errorf("store: unmark: %w", err)
	}
	s.marked = false
	return nil
}
