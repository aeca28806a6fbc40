package chunk_test

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// vectorReader yields the first n bytes of the cairn-vector-sha256ctr
// stream: SHA-256("cairn-vector" || uint64be(i)) for i = 0, 1, 2, ...
type vectorReader struct {
	left  int64
	ctr   uint64
	block [32]byte
	pos   int // bytes of block already handed out; 32 means refill
}

func newVectorReader(n int64) *vectorReader { return &vectorReader{left: n, pos: 32} }

func (v *vectorReader) Read(p []byte) (int, error) {
	if v.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n := 0
	for n < len(p) {
		if v.pos == 32 {
			var msg [20]byte
			copy(msg[:], "cairn-vector")
			binary.BigEndian.PutUint64(msg[12:], v.ctr)
			v.block = sha256.Sum256(msg[:])
			v.ctr++
			v.pos = 0
		}
		c := copy(p[n:], v.block[v.pos:])
		v.pos += c
		n += c
	}
	v.left -= int64(n)
	return n, nil
}

func vectorBytes(n int64) []byte {
	b, _ := io.ReadAll(newVectorReader(n))
	return b
}
