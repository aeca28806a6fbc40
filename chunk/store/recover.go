package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
	"golang.org/x/sys/unix"
)

// recover brings the segment files and the index back into agreement after
// any kind of stop: dead segments are removed, uncommitted tails are
// scanned and their whole records indexed, and a torn tail is cut.
func (s *Store) recover() error {
	metas := map[uint32]segMeta{}
	it := s.db.NewIterator(util.BytesPrefix(prefixSeg), nil)
	for it.Next() {
		k := it.Key()
		if len(k) != len(prefixSeg)+4 {
			continue
		}
		m, err := decodeSegMeta(it.Value())
		if err != nil {
			it.Release()
			return fmt.Errorf("store: index: %w", err)
		}
		metas[uint32(k[2])<<24|uint32(k[3])<<16|uint32(k[4])<<8|uint32(k[5])] = m
	}
	it.Release()
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	if v, err := s.db.Get(keyStats, nil); err == nil {
		c, err := decodeCounts(v)
		if err != nil {
			return fmt.Errorf("store: index: %w", err)
		}
		s.durable = c
	} else if !errors.Is(err, leveldb.ErrNotFound) {
		return fmt.Errorf("store: index: %w", err)
	}

	ids, err := s.listSegments()
	if err != nil {
		return err
	}
	for _, id := range ids {
		m := metas[id]
		if m.dead {
			// Compaction moved everything out before it crashed.
			if err := os.Remove(s.segPath(id)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("store: remove compacted segment %d: %w", id, err)
			}
			if err := syncDir(s.dir); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if err := s.db.Delete(segKey(id), nil); err != nil {
				return fmt.Errorf("store: index: %w", err)
			}
			continue
		}
		f, err := os.OpenFile(s.segPath(id), os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("store: open segment %d: %w", id, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("store: stat segment %d: %w", id, err)
		}
		sg := &segment{id: id, f: f, size: fi.Size(), committed: m.committed, garbage: m.garbage}
		s.segs[id] = sg
		switch {
		case sg.size < sg.committed:
			// Someone cut the file; the blocks past its end are lost, and
			// reading them reports corruption. Appends go at the real end.
			s.opts.Logf("store: segment %d is %d bytes, index says %d: blocks past the end are lost", id, sg.size, sg.committed)
			sg.committed = sg.size
			if err := s.db.Put(segKey(id), segMeta{committed: sg.size, garbage: sg.garbage}.encode(), syncWrite); err != nil {
				return fmt.Errorf("store: index: %w", err)
			}
		case sg.size > sg.committed:
			if err := s.recoverTail(sg); err != nil {
				return err
			}
		}
	}
	for id := range metas {
		if _, ok := s.segs[id]; !ok && !metas[id].dead {
			s.opts.Logf("store: segment %d is missing: its blocks are lost", id)
		}
	}
	if len(ids) == 0 || s.segs[ids[len(ids)-1]] == nil {
		var next uint32 = 1
		if len(ids) > 0 {
			next = ids[len(ids)-1] + 1
		}
		sg, err := s.createSegment(next)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		s.segs[next] = sg
	}
	var top uint32
	for id := range s.segs {
		if id >= top {
			top = id
		}
	}
	s.active = s.segs[top]
	s.live = s.durable
	return nil
}

func (s *Store) listSegments() ([]uint32, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.seg"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var ids []uint32
	for _, n := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".seg"), 10, 32)
		if err != nil || id == 0 {
			s.opts.Logf("store: ignoring %s: not a segment name", n)
			continue
		}
		ids = append(ids, uint32(id))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// recoverTail scans a segment past its committed length. Whole groups
// (a lone record is a group of one) are applied: their blocks indexed,
// their meta ops put in the index. The first record that is torn or fails
// its CRC, or a group whose last record never comes, marks where the file
// is cut: a group is applied whole or not at all, so a block never comes
// back without the meta PutWith wrote with it.
func (s *Store) recoverTail(sg *segment) error {
	var b leveldb.Batch
	durable := s.durable
	seen := map[string]bool{}
	end := sg.committed // end of the last whole group
	type record struct {
		key, data []byte
		flags     uint16
		off, n    int64
	}
	var group []record
	at := end // where the next record starts
	recovered := 0
	r := bufio.NewReaderSize(io.NewSectionReader(sg.f, sg.committed, sg.size-sg.committed), 1<<20)
	hdr := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			break
		}
		kl, dl, _, err := parseHeader(hdr)
		if err != nil {
			break
		}
		rec := make([]byte, recordLen(kl, dl))
		copy(rec, hdr)
		if _, err := io.ReadFull(r, rec[headerSize:]); err != nil {
			break
		}
		key, data, flags, err := parseRecord(rec)
		if err != nil {
			break
		}
		n := int64(len(rec))
		group = append(group, record{key, data, flags, at, n})
		at += n
		if flags&flagMore != 0 {
			continue
		}
		for _, g := range group {
			if g.flags&flagMeta != 0 {
				// Applied in the order written, so the last op on a key
				// wins; the record is garbage once its op is indexed.
				addMetaBatch(&b, []Meta{{Key: g.key, Value: g.data, Delete: g.flags&flagDelete != 0}})
				sg.garbage += g.n
				continue
			}
			has, err := s.db.Has(indexKey(g.key), nil)
			if err != nil {
				return fmt.Errorf("store: index: %w", err)
			}
			if has || seen[string(g.key)] {
				sg.garbage += g.n
			} else {
				seen[string(g.key)] = true
				b.Put(indexKey(g.key), loc{seg: sg.id, off: g.off, n: g.n}.encode())
				durable.blocks++
				durable.bytes += int64(len(g.data))
				recovered++
			}
		}
		group = group[:0]
		end = at
	}
	if end < sg.size {
		s.opts.Logf("store: segment %d: cut %d bytes of torn tail at offset %d", sg.id, sg.size-end, end)
		if err := sg.f.Truncate(end); err != nil {
			return fmt.Errorf("store: cut torn tail of segment %d: %w", sg.id, err)
		}
	}
	if err := unix.Fdatasync(int(sg.f.Fd())); err != nil {
		return fmt.Errorf("store: sync segment %d: %w", sg.id, err)
	}
	if b.Len() > 0 {
		s.opts.Logf("store: segment %d: recovered %d unacknowledged blocks, %d index ops in all", sg.id, recovered, b.Len())
	}
	b.Put(segKey(sg.id), segMeta{committed: end, garbage: sg.garbage}.encode())
	b.Put(keyStats, durable.encode())
	if recovered > 0 {
		b.Delete(keyMark)
	}
	if err := s.db.Write(&b, syncWrite); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	sg.size, sg.committed = end, end
	s.durable = durable
	return nil
}
