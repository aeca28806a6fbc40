package store

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// Put verifies a block from outside (size, hash, dag-pb well-formed) and
// stores it. A block already held is not written again.
func (s *Store) Put(c cid.Cid, data []byte) error {
	return s.PutWith(c, data)
}

// PutWith verifies a block like Put and stores it together with meta ops
// on the caller's keys: the block record and the meta records go into the
// segment as one group, in one write, so that whatever point a crash hits,
// recovery finds either the block with its meta or neither. The ops become
// visible to GetMeta at once and durable with the block (on the next Sync).
// A block already held is not written again, but its meta still is.
func (s *Store) PutWith(c cid.Cid, data []byte, meta ...Meta) error {
	if err := chunk.Verify(c, data); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return s.put(c, data, meta)
}

// PutHashed stores a block whose CID the caller has just computed from
// data, skipping the hash check. Use Put for anything received.
func (s *Store) PutHashed(c cid.Cid, data []byte) error {
	return s.put(c, data, nil)
}

func (s *Store) put(c cid.Cid, data []byte, meta []Meta) error {
	if len(data) > chunk.MaxBlockSize {
		return fmt.Errorf("store: put %s: %w (%d bytes)", c, chunk.ErrTooLarge, len(data))
	}
	key := []byte(c.Hash())
	if len(key) > maxKeyLen {
		return fmt.Errorf("store: put %s: multihash of %d bytes is too long", c, len(key))
	}
	if err := validateMeta(meta); err != nil {
		return fmt.Errorf("store: put %s: %w", c, err)
	}
	// Encode outside the lock: the CRC over a large block takes a while.
	// A lone block keeps header and data apart, saving a copy; a group is
	// one buffer, block record first, so a held block can be sliced off.
	blockLen := recordLen(len(key), len(data))
	var hdr, group []byte
	if len(meta) == 0 {
		hdr = encodeHeader(key, data, 0)
	} else {
		bp := groupPool.Get().(*[]byte)
		group = encodeGroup((*bp)[:0], key, data, meta, blockLen)
		defer func() { *bp = group[:0]; groupPool.Put(bp) }()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	held := false
	if _, ok := s.pending[string(key)]; ok {
		held = true
	} else if ok, err := s.db.Has(indexKey(key), nil); err != nil {
		return fmt.Errorf("store: put %s: index: %w", c, err)
	} else {
		held = ok
	}
	if held {
		if len(meta) == 0 {
			return nil
		}
	}
	rec := group
	if held {
		rec = group[blockLen:]
	}
	n := blockLen
	if rec != nil {
		n = int64(len(rec))
	}
	if s.opts.Capacity > 0 && s.diskBytesLocked()+n > s.opts.Capacity {
		return fmt.Errorf("store: put %s: %w (capacity %d bytes)", c, ErrFull, s.opts.Capacity)
	}
	var l loc
	var err error
	if rec == nil {
		l, err = s.appendLocked(hdr, data)
	} else {
		l, err = s.appendLocked(rec, nil)
	}
	if err != nil {
		return fmt.Errorf("store: put %s: %w", c, err)
	}
	metaBytes := n
	if !held {
		s.pending[string(key)] = pendingEntry{loc: loc{seg: l.seg, off: l.off, n: blockLen}, dataLen: int64(len(data))}
		s.live.blocks++
		s.live.bytes += int64(len(data))
		metaBytes -= blockLen
	}
	for _, m := range meta {
		s.metaSeq++
		p := pendingMeta{del: m.Delete, seq: s.metaSeq}
		if !m.Delete {
			p.value = append([]byte{}, m.Value...)
		}
		s.pendingMeta[string(m.Key)] = p
	}
	// Meta records are garbage once committed: their ops then live in the
	// index. The commit that indexes them adds these bytes to the segment's
	// garbage, so that compaction counts them.
	if metaBytes > 0 {
		s.metaGarbage[l.seg] += metaBytes
	}
	s.pendingBytes += n
	if s.pendingBytes >= s.opts.CommitEvery && !s.committing {
		// Commit in the background: the writer goes on while the segment
		// is flushed. A failure is not lost: the blocks stay pending and
		// the next Sync (which acknowledges them) retries or reports it.
		s.committing = true
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.Sync()
			s.mu.Lock()
			s.committing = false
			s.mu.Unlock()
		}()
	}
	return nil
}

// groupPool holds the buffers groups are encoded in. A fresh buffer per
// put can cost more than the copy into it: every page of a new allocation
// is faulted in and zeroed (half the CPU of a replica's write, in a
// profile of a fresh node taking 256 MiB of pushes).
var groupPool = sync.Pool{New: func() any { return new([]byte) }}

// encodeGroup encodes what PutWith writes, appending to b (grown if
// short): the block's record, then one record per meta op, flagMore on
// all but the last.
func encodeGroup(b, key, data []byte, meta []Meta, blockLen int64) []byte {
	n := blockLen
	for _, m := range meta {
		n += recordLen(len(m.Key), len(m.Value))
	}
	b = slices.Grow(b[:0], int(n))
	b = appendHeader(b, key, data, flagMore)
	b = append(b, data...)
	for i, m := range meta {
		flags := uint16(flagMeta)
		v := m.Value
		if m.Delete {
			flags |= flagDelete
			v = nil
		}
		if i < len(meta)-1 {
			flags |= flagMore
		}
		b = appendHeader(b, m.Key, v, flags)
		b = append(b, v...)
	}
	return b
}

func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	if s.broken != nil {
		return fmt.Errorf("store: unusable after a failed write: %w", s.broken)
	}
	return nil
}

func (s *Store) diskBytesLocked() int64 {
	var t int64
	for _, sg := range s.segs {
		t += sg.size
	}
	return t
}

// appendLocked writes one record (or one group, as hdr with nil data) at
// the end of the active segment, starting a new segment when this one is
// full, so a group never spans two segments. On a failed write the segment
// is cut back, so no partial record stays in the middle of a file.
func (s *Store) appendLocked(hdr, data []byte) (loc, error) {
	n := int64(len(hdr) + len(data))
	if s.active.size > 0 && s.active.size+n > s.opts.SegmentSize {
		if err := s.rotateLocked(); err != nil {
			return loc{}, err
		}
	}
	sg := s.active
	_, err := sg.f.Write(hdr)
	if err == nil {
		_, err = sg.f.Write(data)
	}
	if err != nil {
		if terr := sg.f.Truncate(sg.size); terr != nil {
			s.broken = fmt.Errorf("segment %d: write failed (%v) and could not be cut back: %v", sg.id, err, terr)
		}
		if errors.Is(err, syscall.ENOSPC) {
			return loc{}, fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return loc{}, fmt.Errorf("segment %d: %w", sg.id, err)
	}
	l := loc{seg: sg.id, off: sg.size, n: n}
	sg.size += n
	return l, nil
}

// rotateLocked seals the active segment and starts the next one.
func (s *Store) rotateLocked() error {
	id := s.active.id + 1
	sg, err := s.createSegment(id)
	if err != nil {
		return err
	}
	s.segs[id] = sg
	s.active = sg
	return nil
}

func (s *Store) createSegment(id uint32) (*segment, error) {
	f, err := os.OpenFile(s.segPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", id, err)
	}
	if err := syncDir(s.dir); err != nil {
		// Leave no file behind, or the next rotation would trip on it.
		f.Close()
		os.Remove(s.segPath(id))
		return nil, err
	}
	return &segment{id: id, f: f}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
