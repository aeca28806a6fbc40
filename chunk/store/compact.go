package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// CompactStats reports what a Compact did.
type CompactStats struct {
	Segments  int   // segments rewritten and removed
	Moved     int   // live blocks copied forward
	Reclaimed int64 // bytes of segment files freed, net of the copies
}

// Compact reclaims the space of deleted blocks: every segment whose
// garbage is at least minGarbage of its size (0 means any garbage) has its
// live records copied to the active segment, and is removed once the copies
// are durable and indexed. Reads go on throughout.
func (s *Store) Compact(ctx context.Context, minGarbage float64) (CompactStats, error) {
	var st CompactStats
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	// Seal the active segment first if it holds garbage, so its space can
	// be reclaimed as well; every candidate is then immutable.
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return st, err
	}
	if s.active.garbage > 0 && s.active.size > 0 {
		if err := s.rotateLocked(); err != nil {
			s.mu.Unlock()
			return st, fmt.Errorf("store: compact: %w", err)
		}
	}
	var cands []*segment
	for _, sg := range s.segs {
		if sg == s.active || sg.garbage == 0 {
			continue
		}
		if sg.size == 0 || float64(sg.garbage)/float64(sg.size) >= minGarbage {
			cands = append(cands, sg)
		}
	}
	s.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].id < cands[j].id })

	// Everything in the candidates must be indexed before it is scanned.
	if err := s.Sync(); err != nil {
		return st, err
	}
	for _, sg := range cands {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		s.mu.RLock()
		size := sg.size
		s.mu.RUnlock()
		moved, movedBytes, err := s.compactSegment(ctx, sg)
		if err != nil {
			return st, err
		}
		st.Segments++
		st.Moved += moved
		st.Reclaimed += size - movedBytes
	}
	return st, nil
}

// compactSegment copies sg's live records forward, commits them, then
// marks sg dead in the index and removes its file. A crash at any point
// leaves either the old copy indexed or the new one, never neither.
func (s *Store) compactSegment(ctx context.Context, sg *segment) (int, int64, error) {
	s.mu.RLock()
	end := sg.committed // sealed and synced: nothing is written past it
	s.mu.RUnlock()
	r := bufio.NewReaderSize(io.NewSectionReader(sg.f, 0, end), 1<<20)
	var off int64
	moved := 0
	var movedBytes int64
	hdr := make([]byte, headerSize)
	for off < end {
		if err := ctx.Err(); err != nil {
			return moved, movedBytes, err
		}
		if _, err := io.ReadFull(r, hdr); err != nil {
			return moved, movedBytes, fmt.Errorf("store: compact segment %d at %d: %w", sg.id, off, err)
		}
		kl, dl, flags, err := parseHeader(hdr)
		if err != nil {
			// Without a trustworthy length the rest cannot be walked; keep
			// the segment rather than lose what follows.
			return moved, movedBytes, fmt.Errorf("store: compact segment %d at %d: %w: %v", sg.id, off, ErrCorrupt, err)
		}
		rec := make([]byte, recordLen(kl, dl))
		copy(rec, hdr)
		if _, err := io.ReadFull(r, rec[headerSize:]); err != nil {
			return moved, movedBytes, fmt.Errorf("store: compact segment %d at %d: %w", sg.id, off, err)
		}
		here := loc{seg: sg.id, off: off, n: int64(len(rec))}
		off += here.n
		key, data, _, err := parseRecord(rec)
		sound := err == nil
		if sound && flags&flagMeta != 0 {
			// Committed, so its op is in the index and the record is
			// garbage (counted so when it was committed). A rotten one goes
			// on to moveRecord, whose index check decides, as its flags
			// cannot be trusted.
			continue
		}
		if !sound {
			// A rotten record that is still live is copied as it is, so
			// that reads keep reporting it corrupt until it is replaced.
			key = rec[headerSize : headerSize+kl]
			data = rec[headerSize+kl:]
		}
		// The copy stands alone, away from the group it was written in: it
		// must not claim that records follow, or recovery, finding it past
		// the committed length after a crash, would wait for a group end.
		if flags&flagMore != 0 {
			setFlags(rec[:headerSize+kl], data, flags&^flagMore, sound)
		}
		ok, err := s.moveRecord(key, data, rec[:headerSize+kl], here)
		if err != nil {
			return moved, movedBytes, err
		}
		if ok {
			moved++
			movedBytes += here.n
		}
	}
	if err := s.Sync(); err != nil {
		return moved, movedBytes, err
	}

	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.db.Put(segKey(sg.id), segMeta{committed: end, garbage: end, dead: true}.encode(), syncWrite); err != nil {
		return moved, movedBytes, fmt.Errorf("store: compact segment %d: %w", sg.id, err)
	}
	s.mu.Lock()
	delete(s.segs, sg.id)
	s.mu.Unlock()
	sg.f.Close()
	if err := os.Remove(s.segPath(sg.id)); err != nil {
		return moved, movedBytes, fmt.Errorf("store: remove segment %d: %w", sg.id, err)
	}
	// The dead mark may only go once the removal is durable: a segment file
	// that outlived its meta would be rescanned from offset 0 and bring
	// deleted blocks back.
	if err := syncDir(s.dir); err != nil {
		return moved, movedBytes, fmt.Errorf("store: compact segment %d: %w", sg.id, err)
	}
	if err := s.db.Delete(segKey(sg.id), nil); err != nil {
		return moved, movedBytes, fmt.Errorf("store: compact segment %d: %w", sg.id, err)
	}
	return moved, movedBytes, nil
}

// moveRecord copies a record forward if the index still points at it.
// The check and the append happen under one lock, so a concurrent Delete
// either wins (nothing is copied) or sees the copy and removes it too.
func (s *Store) moveRecord(key, data, hdr []byte, from loc) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return false, err
	}
	cur, ok, err := s.lookupLocked(key)
	if err != nil {
		return false, fmt.Errorf("store: compact: %w", err)
	}
	if !ok || cur != from {
		return false, nil
	}
	l, err := s.appendLocked(hdr, data)
	if err != nil {
		return false, fmt.Errorf("store: compact: %w", err)
	}
	s.pending[string(key)] = pendingEntry{loc: l, dataLen: int64(len(data)), move: true, from: from}
	s.pendingBytes += l.n
	return true, nil
}
