// Package store is cairn's local block store. Blocks are appended to
// segment files (Haystack style) and goleveldb indexes them by multihash,
// so a raw block and a dag-pb block with the same bytes are stored once.
//
// The store knows blocks only. What they mean to the node (pins, replica
// duty) is the caller's metadata: opaque keys and values (Meta) that the
// store keeps in its index database and commits together with the blocks
// they concern, so that a crash never separates a block from its meta.
//
// Durability: Put appends a record to the active segment and makes it
// readable at once; Sync (or an automatic commit every CommitEvery bytes)
// fdatasyncs the segment files and only then writes the new index entries
// and pending meta in one synced goleveldb batch, together with each
// segment's committed length. So an index entry never points at bytes that
// are not on disk. A block is acknowledged once a Sync that follows its
// Put has returned. PutWith writes the meta ops into the segment beside the
// block, as one group, so they are exactly as durable as the block.
//
// Recovery: on Open, bytes of a segment past its committed length are
// scanned record by record; whole groups whose records' CRCs hold are
// indexed, meta included (they were written, just not yet acknowledged),
// and the first torn or garbage record, or group without its end, and
// everything after it is cut off.
//
// Integrity: every record carries a CRC32C over its header, key and data,
// checked on every read; Verify re-hashes every block against its
// multihash. Deleting leaves garbage in segment files that Compact
// reclaims by copying live records forward and removing the old segment;
// meta records are garbage as soon as they are committed.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb"
	"golang.org/x/sys/unix"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("block not found")
	ErrCorrupt  = errors.New("block corrupt")
	ErrFull     = errors.New("store full")
	ErrNoSpace  = errors.New("no space left on device")
	ErrClosed   = errors.New("store closed")
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// SegmentSize is the size at which a segment is sealed and a new one
	// begun (default 256 MiB).
	SegmentSize int64
	// CommitEvery is how many uncommitted bytes start a background commit
	// (default 64 MiB), so that a final Sync has little left to flush.
	CommitEvery int64
	// Capacity, if non-zero, is the most bytes the segment files may hold;
	// a Put past it fails with ErrFull.
	Capacity int64
	// KeepWrittenCache keeps committed records in the page cache. By
	// default a commit drops the pages it has just made durable: a store
	// mostly takes in blocks it will not read back soon (replicas, fetched
	// files), and filling memory with them makes writing slower, not
	// faster. On this project's 2-core VMs, 1 GiB written in 256 KiB
	// pieces with an fdatasync every 64 MiB ran at 400-950 MB/s keeping
	// the pages and at 1,070-1,160 MB/s dropping them; a later read of
	// the dropped pages came back at 1.5 GB/s or more.
	KeepWrittenCache bool
	// WrittenCache, without KeepWrittenCache, is how many bytes of the
	// most recently committed records stay in the page cache: older ones
	// are dropped as newer ones are committed, so a file is fast to read
	// right after it is written while the cache that writes fill stays
	// bounded (default 0: drop at once).
	WrittenCache int64
	// Logf receives notes on recovery; default discards them.
	Logf func(format string, args ...any)
}

func (o *Options) setDefaults() error {
	if o.SegmentSize == 0 {
		o.SegmentSize = 256 << 20
	}
	if o.CommitEvery == 0 {
		o.CommitEvery = 64 << 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	// A record larger than SegmentSize goes alone into a fresh segment, so
	// the floor need not fit the largest record.
	if o.SegmentSize < 1<<20 || o.SegmentSize > 1<<32 {
		return fmt.Errorf("store: segment size %d outside [1MiB, 4GiB]", o.SegmentSize)
	}
	if o.CommitEvery < 0 || o.Capacity < 0 {
		return fmt.Errorf("store: negative CommitEvery or Capacity")
	}
	return nil
}

type segment struct {
	id        uint32
	f         *os.File
	size      int64 // bytes written
	committed int64 // bytes covered by the index
	garbage   int64
}

// pendingEntry is a record written but not yet in the index.
type pendingEntry struct {
	loc
	dataLen int64
	move    bool // compaction copy of an indexed block
	from    loc  // for a move: the record it replaces
}

// Store is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	db   *indexDB

	// commitMu serialises everything that writes the index: commits,
	// deletes and compaction's final steps.
	commitMu sync.Mutex
	// syncMu guards the group commit's queue of Syncs and whether one of
	// them is leading (committing for all).
	syncMu      sync.Mutex
	syncQueue   []*syncReq
	syncLeading bool
	// cached lists the committed ranges still in the page cache under
	// Options.WrittenCache, oldest first, and cachedBytes their total;
	// both commitMu's.
	cached      []cachedRange
	cachedBytes int64
	compactMu   sync.Mutex // one compaction at a time

	mu           sync.RWMutex
	segs         map[uint32]*segment
	active       *segment
	pending      map[string]pendingEntry
	pendingBytes int64
	pendingMeta  map[string]pendingMeta // caller key -> latest op not yet committed
	metaSeq      uint64                 // numbers pendingMeta ops
	metaGarbage  map[uint32]int64       // bytes of uncommitted meta records, by segment
	live         counts                 // what readers see
	durable      counts                 // what the index holds
	broken       error                  // a failed write that could not be undone
	closed       bool
	marked       bool           // see Mark; commitMu's
	committing   bool           // a background commit is running
	bg           sync.WaitGroup // background commits
}

// Stats describe a store.
type Stats struct {
	Blocks       int64 // blocks held
	Bytes        int64 // their data bytes
	Segments     int   // segment files
	SegmentBytes int64 // bytes of segment files
	Garbage      int64 // bytes of deleted or superseded records awaiting compaction
}

// Open opens or creates a store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openIndex(filepath.Join(dir, "index"), opts.Logf)
	if err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	s := &Store{
		dir: dir, opts: opts, db: db,
		segs:        map[uint32]*segment{},
		pending:     map[string]pendingEntry{},
		pendingMeta: map[string]pendingMeta{},
		metaGarbage: map[uint32]int64{},
	}
	if err := s.migrateLegacyMeta(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		db.Close()
		return nil, err
	}
	if s.marked, err = db.Has(keyMark, nil); err != nil {
		s.closeFiles()
		db.Close()
		return nil, fmt.Errorf("store: index: %w", err)
	}
	return s, nil
}

func (s *Store) segPath(id uint32) string {
	return filepath.Join(s.dir, fmt.Sprintf("%08d.seg", id))
}

// lookupLocked finds a block's record; s.mu must be held.
func (s *Store) lookupLocked(key []byte) (loc, bool, error) {
	if p, ok := s.pending[string(key)]; ok {
		return p.loc, true, nil
	}
	v, err := s.db.Get(indexKey(key), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return loc{}, false, nil
	}
	if err != nil {
		return loc{}, false, fmt.Errorf("index: %w", err)
	}
	l, err := decodeLoc(v)
	return l, err == nil, err
}

// Get returns a block's bytes, checked against the record's CRC. A record
// that fails the check gives ErrCorrupt, never wrong bytes. The context is
// accepted so that Store satisfies chunk.BlockGetter; a local read does not
// block on anything it could cancel.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, _, err := s.GetBuffer(ctx, c, nil)
	return data, err
}

// GetBuffer is Get reading into buf, for readers that go through many
// blocks and would otherwise allocate (and zero) a fresh buffer for each.
// The bytes alias buf when it can hold the block's record (a little more
// than the block), else a new buffer; that buffer is returned too, for
// the caller to pass in again once it is done with the bytes.
func (s *Store) GetBuffer(_ context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	data, buf, err := s.getHash(c.Hash(), buf)
	if err != nil {
		return nil, buf, fmt.Errorf("store: get %s: %w", c, err)
	}
	return data, buf, nil
}

// WillNeed tells the kernel that the blocks will be read soon, so that
// their reads from disk start now, together, rather than one by one as
// each Get comes. Blocks it does not hold are skipped; it is advice only.
func (s *Store) WillNeed(cids []cid.Cid) {
	type span struct {
		f      *os.File
		off, n int64
	}
	spans := make([]span, 0, len(cids))
	s.mu.RLock()
	for _, c := range cids {
		if l, sg, err := s.findLocked(c.Hash()); err == nil {
			spans = append(spans, span{sg.f, l.off, l.n})
		}
	}
	s.mu.RUnlock()
	// Outside the lock: starting the reads can wait on the disk's queue.
	// A segment compaction closes meanwhile only makes the advice fail.
	for _, sp := range spans {
		if rc, err := sp.f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				_ = unix.Fadvise(int(fd), sp.off, sp.n, unix.FADV_WILLNEED)
			})
		}
	}
}

// getHash reads a block into buf (see GetBuffer). The record is read and
// checked outside s.mu: a read that goes to disk can take milliseconds,
// and holding the read lock that long would stall every Put and, behind a
// waiting Put, every other read.
func (s *Store) getHash(key mh.Multihash, buf []byte) ([]byte, []byte, error) {
	s.mu.RLock()
	l, sg, err := s.findLocked(key)
	s.mu.RUnlock()
	if err != nil {
		return nil, buf, err
	}
	rkey, data, buf, err := readRecord(sg, l, buf)
	if errors.Is(err, errSegmentClosed) {
		// Compaction moved the record and closed its segment between the
		// look-up and the read (or the store is closing). Look again and
		// read under the lock this time: compaction drops a segment from
		// s.segs under the write lock before closing it, and Close marks
		// the store closed first, so no file found under the lock is
		// closed while it is held.
		s.mu.RLock()
		defer s.mu.RUnlock()
		if l, sg, err = s.findLocked(key); err != nil {
			return nil, buf, err
		}
		rkey, data, buf, err = readRecord(sg, l, buf)
	}
	if err != nil {
		return nil, buf, err
	}
	if string(rkey) != string(key) {
		return nil, buf, fmt.Errorf("%w: record at segment %d offset %d holds another block", ErrCorrupt, l.seg, l.off)
	}
	return data, buf, nil
}

// findLocked finds a block's record and its segment; s.mu must be held.
func (s *Store) findLocked(key mh.Multihash) (loc, *segment, error) {
	if s.closed {
		return loc{}, nil, ErrClosed
	}
	l, ok, err := s.lookupLocked(key)
	if err != nil {
		return loc{}, nil, err
	}
	if !ok {
		return loc{}, nil, ErrNotFound
	}
	sg, ok := s.segs[l.seg]
	if !ok {
		return loc{}, nil, fmt.Errorf("%w: segment %d is missing", ErrCorrupt, l.seg)
	}
	return l, sg, nil
}

// Has reports whether the store holds the block (without reading it).
func (s *Store) Has(c cid.Cid) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok, err := s.lookupLocked(c.Hash())
	if err != nil {
		return false, fmt.Errorf("store: has %s: %w", c, err)
	}
	return ok, nil
}

// Durable reports whether the store holds c's block committed: synced,
// not only written (Has counts a block from its Put on). What the store
// tells other nodes it holds should be durable, or a crash before the
// commit loses a copy they counted.
func (s *Store) Durable(c cid.Cid) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	// A pending entry that moves a committed block (compaction) leaves
	// the committed one indexed: the index alone says what is durable.
	ok, err := s.db.Has(indexKey(c.Hash()), nil)
	if err != nil {
		return false, fmt.Errorf("store: durable %s: %w", c, err)
	}
	return ok, nil
}

// Size reports the data bytes of a held block from the index, without
// reading it; ErrNotFound if the store does not hold it.
func (s *Store) Size(k mh.Multihash) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	l, ok, err := s.lookupLocked(k)
	if err != nil {
		return 0, fmt.Errorf("store: size %s: %w", k.B58String(), err)
	}
	if !ok {
		return 0, fmt.Errorf("store: size %s: %w", k.B58String(), ErrNotFound)
	}
	return l.n - headerSize - int64(len(k)), nil
}

// Stats reports what the store holds.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Blocks: s.live.blocks, Bytes: s.live.bytes, Segments: len(s.segs)}
	for _, sg := range s.segs {
		st.SegmentBytes += sg.size
		st.Garbage += sg.garbage
	}
	return st
}

// Capacity is the most bytes the segment files may hold (0: no bound).
func (s *Store) Capacity() int64 { return s.opts.Capacity }

// Close commits what is pending and closes the files.
func (s *Store) Close() error {
	s.bg.Wait()
	serr := s.Sync()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.closeFiles()
	if err := s.db.Close(); err != nil && serr == nil {
		serr = fmt.Errorf("store: close index: %w", err)
	}
	if errors.Is(serr, ErrClosed) {
		serr = nil
	}
	return serr
}

func (s *Store) closeFiles() {
	for _, sg := range s.segs {
		sg.f.Close()
	}
}
