package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// A record in a segment file is
//
//	magic   uint32  "CRN1", little endian
//	crc     uint32  CRC32C of every byte after this field
//	keyLen  uint16  length of the multihash
//	flags   uint16  0; reserved
//	dataLen uint32
//	key     [keyLen]byte   the block's multihash
//	data    [dataLen]byte  the block
//
// The CRC covers the header fields after it, the key and the data, so a
// torn or rotted record is never mistaken for a good one, and a record read
// at a stale offset is never mistaken for another block.
const (
	recordMagic  = 0x314e5243 // "CRN1"
	headerSize   = 16
	maxKeyLen    = 128
	maxRecordLen = headerSize + maxKeyLen + 1<<20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeHeader returns the header and key of a record for data, CRC
// included.
func encodeHeader(key, data []byte) []byte {
	h := make([]byte, headerSize+len(key))
	binary.LittleEndian.PutUint32(h[0:], recordMagic)
	binary.LittleEndian.PutUint16(h[8:], uint16(len(key)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(data)))
	copy(h[headerSize:], key)
	crc := crc32.Update(0, castagnoli, h[8:])
	crc = crc32.Update(crc, castagnoli, data)
	binary.LittleEndian.PutUint32(h[4:], crc)
	return h
}

// recordLen is the on-disk size of a record.
func recordLen(keyLen, dataLen int) int64 { return int64(headerSize + keyLen + dataLen) }

// parseHeader checks the fixed fields of a header and returns the lengths.
func parseHeader(h []byte) (keyLen, dataLen int, err error) {
	if len(h) < headerSize {
		return 0, 0, fmt.Errorf("short header (%d bytes)", len(h))
	}
	if m := binary.LittleEndian.Uint32(h[0:]); m != recordMagic {
		return 0, 0, fmt.Errorf("bad magic %#x", m)
	}
	keyLen = int(binary.LittleEndian.Uint16(h[8:]))
	dataLen = int(binary.LittleEndian.Uint32(h[12:]))
	if keyLen == 0 || keyLen > maxKeyLen {
		return 0, 0, fmt.Errorf("bad key length %d", keyLen)
	}
	if flags := binary.LittleEndian.Uint16(h[10:]); flags != 0 {
		return 0, 0, fmt.Errorf("unknown flags %#x", flags)
	}
	if dataLen > 1<<20 {
		return 0, 0, fmt.Errorf("bad data length %d", dataLen)
	}
	return keyLen, dataLen, nil
}

// parseRecord checks a whole record (header, lengths and CRC) and returns
// its key and data, which alias rec.
func parseRecord(rec []byte) (key, data []byte, err error) {
	kl, dl, err := parseHeader(rec)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(rec)) != recordLen(kl, dl) {
		return nil, nil, fmt.Errorf("record is %d bytes, header says %d", len(rec), recordLen(kl, dl))
	}
	if got, want := crc32.Checksum(rec[8:], castagnoli), binary.LittleEndian.Uint32(rec[4:]); got != want {
		return nil, nil, fmt.Errorf("crc32c %08x, record says %08x", got, want)
	}
	return rec[headerSize : headerSize+kl], rec[headerSize+kl:], nil
}

// errSegmentClosed means a segment file was closed under a read made
// outside s.mu (by compaction, or Close).
var errSegmentClosed = errors.New("segment file closed")

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
	if _, err := sg.f.ReadAt(rec, l.off); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil, nil, buf, errSegmentClosed
		}
		return nil, nil, buf, fmt.Errorf("%w: segment %d offset %d: %v", ErrCorrupt, l.seg, l.off, err)
	}
	key, data, err = parseRecord(rec)
	if err != nil {
		return nil, nil, buf, fmt.Errorf("%w: segment %d offset %d: %v", ErrCorrupt, l.seg, l.off, err)
	}
	return key, data, buf, nil
}
