package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A record in a segment file is
//
//	magic   uint32  "CRN1", little endian
//	crc     uint32  CRC32C of every byte after this field
//	keyLen  uint16  length of the key
//	flags   uint16  see below
//	dataLen uint32
//	key     [keyLen]byte   a block record: the block's multihash;
//	                       a meta record: the caller's meta key
//	data    [dataLen]byte  the block, or the meta value
//
// The CRC covers the header fields after it, the key and the data, so a
// torn or rotted record is never mistaken for a good one, and a record read
// at a stale offset is never mistaken for another block.
//
// Flags (stores written before they existed have 0 everywhere, which is a
// lone block record, so they read and recover exactly as before; no
// version bump is needed):
//
//	flagMeta    the record is one of the caller's meta ops, not a block
//	flagDelete  with flagMeta: the op removes the key (dataLen is 0)
//	flagMore    the next record belongs to the same group
//
// A group is what one PutWith wrote, in one append: the block record (if
// the block was not already held) and its meta records, flagMore set on all
// but the last. Recovery applies a group only once it has read its last
// record whole, so a block is never indexed without the meta written with
// it. Meta records are garbage as soon as a commit has put their ops in the
// index; compaction copies only indexed blocks, so it drops them.
const (
	recordMagic  = 0x314e5243 // "CRN1"
	headerSize   = 16
	maxKeyLen    = 128
	maxRecordLen = headerSize + maxKeyLen + 1<<20

	flagMeta   = 1 << 0
	flagDelete = 1 << 1
	flagMore   = 1 << 2
	knownFlags = flagMeta | flagDelete | flagMore

	// maxMetaKeyLen and maxMetaValueLen bound the caller's meta so that a
	// meta op always fits a record.
	maxMetaKeyLen   = 4096
	maxMetaValueLen = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeHeader returns the header and key of a record for data, CRC
// included.
func encodeHeader(key, data []byte, flags uint16) []byte {
	return appendHeader(make([]byte, 0, headerSize+len(key)), key, data, flags)
}

// appendHeader appends the header and key of a record for data to b.
func appendHeader(b, key, data []byte, flags uint16) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, recordMagic)
	b = binary.LittleEndian.AppendUint32(b, 0) // the CRC, set below
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, key...)
	h := b[start:]
	crc := crc32.Update(0, castagnoli, h[8:])
	crc = crc32.Update(crc, castagnoli, data)
	binary.LittleEndian.PutUint32(h[4:], crc)
	return b
}

// setFlags rewrites the flags of an encoded header, recomputing its CRC
// over data only if reseal is set: a record whose CRC already fails must
// keep failing.
func setFlags(hdr, data []byte, flags uint16, reseal bool) {
	binary.LittleEndian.PutUint16(hdr[10:], flags)
	if reseal {
		crc := crc32.Update(0, castagnoli, hdr[8:])
		crc = crc32.Update(crc, castagnoli, data)
		binary.LittleEndian.PutUint32(hdr[4:], crc)
	}
}

// recordLen is the on-disk size of a record.
func recordLen(keyLen, dataLen int) int64 { return int64(headerSize + keyLen + dataLen) }

// parseHeader checks the fixed fields of a header and returns the lengths
// and flags. Limits are checked before the CRC can be, so that a garbage
// length never makes a reader allocate or skip absurdly.
func parseHeader(h []byte) (keyLen, dataLen int, flags uint16, err error) {
	if len(h) < headerSize {
		return 0, 0, 0, fmt.Errorf("short header (%d bytes)", len(h))
	}
	if m := binary.LittleEndian.Uint32(h[0:]); m != recordMagic {
		return 0, 0, 0, fmt.Errorf("bad magic %#x", m)
	}
	keyLen = int(binary.LittleEndian.Uint16(h[8:]))
	flags = binary.LittleEndian.Uint16(h[10:])
	dataLen = int(binary.LittleEndian.Uint32(h[12:]))
	maxKey, maxData := maxKeyLen, 1<<20
	switch {
	case !knownFlagSet(flags):
		// Rot in the flags field leaves the lengths to be judged by the
		// loosest limits; the CRC then tells rot (a torn or rotted
		// record, walked past like any other) from flags this version
		// does not know (parseRecord refuses those). Failing here would
		// stop a compaction or a recovery scan at a rotted dead record.
		maxKey, maxData = max(maxKeyLen, maxMetaKeyLen), max(1<<20, maxMetaValueLen)
	case flags&flagMeta != 0:
		maxKey, maxData = maxMetaKeyLen, maxMetaValueLen
		if flags&flagDelete != 0 {
			maxData = 0
		}
	}
	if keyLen == 0 || keyLen > maxKey {
		return 0, 0, 0, fmt.Errorf("bad key length %d", keyLen)
	}
	if dataLen > maxData {
		return 0, 0, 0, fmt.Errorf("bad data length %d", dataLen)
	}
	return keyLen, dataLen, flags, nil
}

// parseRecord checks a whole record (header, lengths and CRC) and returns
// its key and data, which alias rec, and its flags.
func parseRecord(rec []byte) (key, data []byte, flags uint16, err error) {
	kl, dl, flags, err := parseHeader(rec)
	if err != nil {
		return nil, nil, 0, err
	}
	if int64(len(rec)) != recordLen(kl, dl) {
		return nil, nil, 0, fmt.Errorf("record is %d bytes, header says %d", len(rec), recordLen(kl, dl))
	}
	if got, want := crc32.Checksum(rec[8:], castagnoli), binary.LittleEndian.Uint32(rec[4:]); got != want {
		return nil, nil, 0, fmt.Errorf("crc32c %08x, record says %08x", got, want)
	}
	if !knownFlagSet(flags) {
		return nil, nil, 0, fmt.Errorf("unknown flags %#x (written by a newer cairn?)", flags)
	}
	return rec[headerSize : headerSize+kl], rec[headerSize+kl:], flags, nil
}

// knownFlagSet says whether flags is a combination this version writes.
func knownFlagSet(flags uint16) bool {
	return flags&^knownFlags == 0 && (flags&flagDelete == 0 || flags&flagMeta != 0)
}

// errSegmentClosed means a segment file was closed under a read made
// outside s.mu (by compaction, or Close).
var errSegmentClosed = errors.New("segment file closed")

// readAt reads a segment file; tests replace it to inject read errors.
var readAt = func(f *os.File, b []byte, off int64) (int, error) { return f.ReadAt(b, off) }

// readRecord reads and checks the record at l of sg into buf (or a new
// buffer if buf is too small), returning the key and data, which alias
// the returned buffer. It needs no lock: the bytes at an indexed location
// never change while its segment file exists (segments are only appended
// to; compaction removes a whole file, once its live records are indexed
// elsewhere), and a file closed under the read gives errSegmentClosed,
// never another file's bytes.
func readRecord(sg *segment, l loc, buf []byte) (key, data, backing []byte, err error) {
	if l.n < headerSize || l.n > maxRecordLen {
		return nil, nil, buf, fmt.Errorf("%w: index gives a record of %d bytes", ErrCorrupt, l.n)
	}
	if int64(cap(buf)) < l.n {
		buf = make([]byte, l.n)
	}
	rec := buf[:l.n]
	if _, err := readAt(sg.f, rec, l.off); err != nil {
		switch {
		case errors.Is(err, os.ErrClosed):
			return nil, nil, buf, errSegmentClosed
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			// The file ends before the record: it was cut short.
			return nil, nil, buf, fmt.Errorf("%w: segment %d offset %d: %v", ErrCorrupt, l.seg, l.off, err)
		}
		// An I/O error is no proof that the bytes are bad: the caller
		// must not drop the block for it, and may read it again later.
		return nil, nil, buf, fmt.Errorf("store: read segment %d offset %d: %w", l.seg, l.off, err)
	}
	key, data, flags, err := parseRecord(rec)
	if err != nil {
		return nil, nil, buf, fmt.Errorf("%w: segment %d offset %d: %v", ErrCorrupt, l.seg, l.off, err)
	}
	if flags&flagMeta != 0 {
		// The index never points at a meta record; one found there means
		// the index is wrong, whatever the key says.
		return nil, nil, buf, fmt.Errorf("%w: segment %d offset %d holds meta, not a block", ErrCorrupt, l.seg, l.off)
	}
	return key, data, buf, nil
}
