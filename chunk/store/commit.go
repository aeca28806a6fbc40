package store

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"golang.org/x/sys/unix"
)

var syncWrite = &opt.WriteOptions{Sync: true}

// testHookBeforeIndex, if set, runs in every commit between the segments'
// fdatasync and the index batch: crash tests kill the process there.
var testHookBeforeIndex func()

// Sync makes every block Put so far, and the meta put with them, durable:
// it fdatasyncs the segment files they went to, then indexes them in one
// synced batch, which also carries meta: ops applied after the pending
// ones, so they win on a shared key. The batch is written when meta is
// given even if nothing is pending. Puts and Gets go on while the files
// are flushed.
//
// Concurrent Syncs are committed together (group commit): the first to
// come leads, and commits everything pending with the meta of every Sync
// that joined while the commit before it ran, in the order they came, so
// many small writers share one fdatasync and one index batch.
func (s *Store) Sync(meta ...Meta) error {
	if err := validateMeta(meta); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	req := &syncReq{meta: meta, done: make(chan error, 1)}
	s.syncMu.Lock()
	s.syncQueue = append(s.syncQueue, req)
	if s.syncLeading {
		s.syncMu.Unlock()
		if err := <-req.done; err != errLead {
			return err
		}
		s.syncMu.Lock() // handed the lead: commit for the queue, this one included
	}
	s.syncLeading = true
	group := s.syncQueue
	s.syncQueue = nil
	s.syncMu.Unlock()

	var all []Meta
	for _, r := range group {
		all = append(all, r.meta...)
	}
	s.commitMu.Lock()
	err := s.commitLocked(all)
	s.commitMu.Unlock()
	for _, r := range group {
		if r != req {
			r.done <- err
		}
	}

	// Those that came during the commit go next, led by the first of
	// them: a leader commits once and returns, however long the load.
	s.syncMu.Lock()
	if len(s.syncQueue) > 0 {
		s.syncQueue[0].done <- errLead
	} else {
		s.syncLeading = false
	}
	s.syncMu.Unlock()
	return err
}

// syncReq is one Sync waiting for the group commit that covers it.
type syncReq struct {
	meta []Meta
	done chan error // buffered: the leader never waits on it
}

// errLead tells a waiting Sync that it leads the next group commit.
var errLead = errors.New("store: lead the next commit")

func (s *Store) commitLocked(meta []Meta) error {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	if len(s.pending) == 0 && len(s.pendingMeta) == 0 && len(meta) == 0 {
		s.mu.Unlock()
		return nil
	}
	// Everything below is taken under one lock, and PutWith appends a group
	// and records it as pending under the same lock, so a commit takes
	// whole groups: the bytes it syncs hold every record it indexes.
	entries := make(map[string]pendingEntry, len(s.pending))
	for k, p := range s.pending {
		entries[k] = p
	}
	metaOps := make(map[string]pendingMeta, len(s.pendingMeta))
	for k, p := range s.pendingMeta {
		metaOps[k] = p
	}
	metaGarbage := make(map[uint32]int64, len(s.metaGarbage))
	for id, n := range s.metaGarbage {
		metaGarbage[id] = n
	}
	type segState struct {
		sg         *segment
		from, size int64 // the bytes this commit makes durable
	}
	var dirty []segState
	for _, sg := range s.segs {
		if sg.size > sg.committed {
			dirty = append(dirty, segState{sg, sg.committed, sg.size})
		}
	}
	s.mu.Unlock()

	// Data first: once the index names a record, its bytes must be on disk.
	for _, d := range dirty {
		if err := unix.Fdatasync(int(d.sg.f.Fd())); err != nil {
			// Linux marks the pages clean after a failed fsync, so a retry
			// would succeed without the data being on disk. Refuse further
			// writes; reopening rescans the tail and keeps only whole records.
			s.mu.Lock()
			s.broken = fmt.Errorf("sync segment %d: %w", d.sg.id, err)
			s.mu.Unlock()
			return fmt.Errorf("store: sync segment %d: %w", d.sg.id, err)
		}
		if !s.opts.KeepWrittenCache {
			s.dropWrittenLocked(d.sg, d.from, d.size)
		}
	}

	var b leveldb.Batch
	durable := s.durable
	moved := map[uint32]int64{} // garbage left behind by compaction moves
	added := false              // a block indexed, not only moved
	for k, p := range entries {
		b.Put(indexKey([]byte(k)), p.loc.encode())
		if p.move {
			moved[p.from.seg] += p.from.n
		} else {
			durable.blocks++
			durable.bytes += p.dataLen
			added = true
		}
	}
	for k, p := range metaOps {
		if p.del {
			b.Delete(metaKey([]byte(k)))
		} else {
			b.Put(metaKey([]byte(k)), p.value)
		}
	}
	addMetaBatch(&b, meta)
	s.mu.RLock()
	metas := map[uint32]segMeta{}
	for _, d := range dirty {
		// A segment with meta records written is dirty: they lie past its
		// committed length until this commit.
		metas[d.sg.id] = segMeta{committed: d.size, garbage: d.sg.garbage + metaGarbage[d.sg.id]}
	}
	for id, g := range moved {
		if sg, ok := s.segs[id]; ok {
			m, seen := metas[id]
			if !seen {
				m = segMeta{committed: sg.committed, garbage: sg.garbage}
			}
			m.garbage += g
			metas[id] = m
		}
	}
	s.mu.RUnlock()
	for id, m := range metas {
		b.Put(segKey(id), m.encode())
	}
	b.Put(keyStats, durable.encode())
	unmark := s.marked && added
	if unmark {
		b.Delete(keyMark)
	}
	if testHookBeforeIndex != nil {
		testHookBeforeIndex()
	}
	if err := s.db.Write(&b, syncWrite); err != nil {
		return fmt.Errorf("store: commit index: %w", err)
	}
	if unmark {
		s.marked = false
	}

	s.mu.Lock()
	for k, p := range entries {
		if cur, ok := s.pending[k]; ok && cur.loc == p.loc {
			delete(s.pending, k)
			s.pendingBytes -= p.n
		}
	}
	for k, p := range metaOps {
		if cur, ok := s.pendingMeta[k]; ok && cur.seq == p.seq {
			delete(s.pendingMeta, k)
		}
	}
	for id, n := range metaGarbage {
		// The segment's pending bytes count its meta records too.
		s.pendingBytes -= n
		if s.metaGarbage[id] -= n; s.metaGarbage[id] == 0 {
			delete(s.metaGarbage, id)
		}
	}
	for id, m := range metas {
		if sg, ok := s.segs[id]; ok {
			sg.committed = m.committed
			sg.garbage = m.garbage
		}
	}
	s.durable = durable
	s.mu.Unlock()
	return nil
}

// Delete removes a block, and applies meta in the same index batch (so the
// caller's record of the block goes with it). Its record becomes garbage
// for Compact. Deleting a block the store does not hold gives ErrNotFound
// and applies no meta. The delete itself is not synced: one lost in a crash
// only brings the block back, with its meta as it was.
func (s *Store) Delete(c cid.Cid, meta ...Meta) error {
	key := []byte(c.Hash())
	if err := validateMeta(meta); err != nil {
		return fmt.Errorf("store: delete %s: %w", c, err)
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.RLock()
	_, pending := s.pending[string(key)]
	for _, m := range meta {
		_, p := s.pendingMeta[string(m.Key)]
		pending = pending || p
	}
	s.mu.RUnlock()
	if pending {
		// Commit first, so the record lies below its segment's committed
		// length: recovery only rescans past that length, and would index a
		// deleted record found there again. Likewise a pending meta op on
		// one of our keys: left pending, it would override our op, now and
		// when recovery replays it.
		if err := s.commitLocked(nil); err != nil {
			return fmt.Errorf("store: delete %s: %w", c, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	v, err := s.db.Get(indexKey(key), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return fmt.Errorf("store: delete %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: delete %s: index: %w", c, err)
	}
	l, err := decodeLoc(v)
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", c, err)
	}
	dataLen := l.n - headerSize - int64(len(key))
	var b leveldb.Batch
	b.Delete(indexKey(key))
	addMetaBatch(&b, meta)
	durable := s.durable
	durable.blocks--
	durable.bytes -= dataLen
	b.Put(keyStats, durable.encode())
	if s.marked {
		b.Delete(keyMark)
	}
	sg, ok := s.segs[l.seg]
	if ok {
		b.Put(segKey(sg.id), segMeta{committed: sg.committed, garbage: sg.garbage + l.n}.encode())
	}
	if err := s.db.Write(&b, nil); err != nil {
		return fmt.Errorf("store: delete %s: %w", c, err)
	}
	s.marked = false
	if ok {
		sg.garbage += l.n
	}
	s.durable = durable
	s.live.blocks--
	s.live.bytes -= dataLen
	return nil
}

// cachedRange is a committed range of a segment left in the page cache.
type cachedRange struct {
	sg       *segment
	from, to int64
}

// dropWrittenLocked drops a just-committed range from the page cache, or
// keeps it as the newest of the Options.WrittenCache bytes kept and drops
// the oldest ranges past that budget. The caller holds commitMu, under
// which segments are also closed, so a listed segment's file is open or
// gone from s.segs. The advice is only advice: a failure costs page
// cache, nothing else.
func (s *Store) dropWrittenLocked(sg *segment, from, to int64) {
	budget := s.opts.WrittenCache
	if budget <= 0 {
		_ = unix.Fadvise(int(sg.f.Fd()), from, to-from, unix.FADV_DONTNEED)
		return
	}
	s.cached = append(s.cached, cachedRange{sg, from, to})
	s.cachedBytes += to - from
	for s.cachedBytes > budget && len(s.cached) > 0 {
		r := s.cached[0]
		s.cached = s.cached[1:]
		s.cachedBytes -= r.to - r.from
		s.mu.RLock()
		open := s.segs[r.sg.id] == r.sg
		s.mu.RUnlock()
		if open {
			_ = unix.Fadvise(int(r.sg.f.Fd()), r.from, r.to-r.from, unix.FADV_DONTNEED)
		}
	}
}
