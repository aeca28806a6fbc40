package exchange

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// ProtocolID names the protocol in libp2p's stream negotiation.
const ProtocolID = "/cairn/block/1.0.0"

// Limits of the protocol.
const (
	MaxFrame = chunk.MaxBlockSize + 4096
	MaxWant  = 64   // CIDs in one WANT
	MaxHave  = 1024 // CIDs in one HAVE
	maxCID   = 256  // bytes of one encoded CID
)

// Frame types.
const (
	typeWant     byte = 0x01
	typeHave     byte = 0x02
	typePush     byte = 0x03
	typeBlock    byte = 0x11
	typeDontHave byte = 0x12
	typeHaves    byte = 0x13
	typeStored   byte = 0x14
	typeRefused  byte = 0x15
)

// ErrProtocol marks a peer that broke the protocol: oversized or malformed
// frames, replies that do not answer the request, blocks that do not match
// their CIDs.
var ErrProtocol = errors.New("exchange: protocol violation")

// ErrBadContent marks a block whose bytes match its hash but are not a
// well-formed node of its codec: the content itself is bad, whoever
// serves it, so the provider is not to blame.
var ErrBadContent = errors.New("exchange: block matches its hash but is malformed")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// writeFrame writes one frame made of typ and the concatenated parts.
func writeFrame(w *bufio.Writer, typ byte, parts ...[]byte) error {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxFrame {
		return fmt.Errorf("exchange: frame of %d bytes exceeds the limit", n)
	}
	var hdr [binary.MaxVarintLen64 + 1]byte
	k := binary.PutUvarint(hdr[:], uint64(n))
	hdr[k] = typ
	if _, err := w.Write(hdr[:k+1]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame whose length may not exceed limit(type). The
// type byte is read before the body is allocated, so a hostile length
// costs nothing. Only what the peer sent can be a protocol violation: a
// failed read (timeout, reset, closed connection) is reported as it is.
func readFrame(r *bufio.Reader, limit func(typ byte) int) (byte, []byte, error) {
	return readFrameInto(r, limit, nil)
}

// readFrameInto is readFrame reading the body into buf when it is large
// enough, so that a reader of many blocks does not allocate (and zero)
// 256 KiB for each.
func readFrameInto(r *bufio.Reader, limit func(typ byte) int, buf []byte) (byte, []byte, error) {
	typ, n, err := readHeader(r, limit)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(r, n, buf)
	return typ, body, err
}

// readHeader reads a frame's length and type: n is the length of the
// body that follows.
func readHeader(r *bufio.Reader, limit func(typ byte) int) (typ byte, n int, err error) {
	var size uint64
	for shift := 0; ; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			if shift > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, err
		}
		if shift == 63 && b > 1 {
			return 0, 0, protoErr("frame length overflows")
		}
		size |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		if shift >= 63 {
			return 0, 0, protoErr("frame length overflows")
		}
	}
	if size == 0 || size > MaxFrame {
		return 0, 0, protoErr("frame length %d outside [1, %d]", size, MaxFrame)
	}
	typ, err = r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	if max := limit(typ); size > uint64(max) {
		return 0, 0, protoErr("frame of type %#x with %d bytes (at most %d)", typ, size, max)
	}
	return typ, int(size - 1), nil
}

// readBody reads a body of n bytes, into buf if it can hold them.
func readBody(r *bufio.Reader, n int, buf []byte) ([]byte, error) {
	var body []byte
	if cap(buf) >= n {
		body = buf[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// framePool holds buffers for block frames, on both sides of a want,
// sized for cairn's 256 KiB leaves and their records; a larger block (up
// to MaxFrame, from another producer) gets a buffer of its own.
var framePool = sync.Pool{New: func() any { b := make([]byte, chunk.ChunkSize+4096); return &b }}

// anyFrame admits every frame type up to MaxFrame.
func anyFrame(byte) int { return MaxFrame }

func appendCID(b []byte, c cid.Cid) []byte {
	cb := c.Bytes()
	b = binary.AppendUvarint(b, uint64(len(cb)))
	return append(b, cb...)
}

// readCID takes one CID off the front of b.
func readCID(b []byte) (cid.Cid, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxCID || uint64(len(b)-k) < n {
		return cid.Undef, nil, protoErr("malformed CID length")
	}
	c, err := cid.Cast(b[k : k+int(n)])
	if err != nil {
		return cid.Undef, nil, protoErr("malformed CID: %v", err)
	}
	return c, b[k+int(n):], nil
}

func encodeCIDs(cids []cid.Cid) []byte {
	var b []byte
	for _, c := range cids {
		b = appendCID(b, c)
	}
	return b
}

func decodeCIDs(b []byte, max int) ([]cid.Cid, error) {
	var out []cid.Cid
	for len(b) > 0 {
		if len(out) == max {
			return nil, protoErr("more than %d CIDs", max)
		}
		c, rest, err := readCID(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		b = rest
	}
	if len(out) == 0 {
		return nil, protoErr("empty CID list")
	}
	return out, nil
}

// RefuseCode says why a push was refused.
type RefuseCode byte

const (
	RefuseFull     RefuseCode = 1
	RefuseBusy     RefuseCode = 2
	RefuseInvalid  RefuseCode = 3
	RefuseUnwanted RefuseCode = 4
)

func (c RefuseCode) String() string {
	switch c {
	case RefuseFull:
		return "full"
	case RefuseBusy:
		return "busy"
	case RefuseInvalid:
		return "invalid"
	case RefuseUnwanted:
		return "unwanted"
	}
	return fmt.Sprintf("code %d", byte(c))
}

// maxReason bounds a refusal's reason as a client keeps it.
const maxReason = 128

// sanitizeReason makes a peer's refusal reason safe to log: printable
// characters only (others become '?'), at most maxReason of them.
func sanitizeReason(b []byte) string {
	out := make([]rune, 0, min(len(b), maxReason))
	for _, r := range string(b) {
		if len(out) == maxReason {
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// RefusedError is a push the receiver turned down. Reason, from the peer,
// is sanitized and capped (sanitizeReason) before it reaches anyone.
type RefusedError struct {
	Code   RefuseCode
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("exchange: push refused (%s): %s", e.Code, e.Reason)
}
