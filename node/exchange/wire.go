package exchange

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
)

// ProtocolID names the protocol in libp2p's stream negotiation.
const ProtocolID = "/cairn/block/1.0.0"

// Limits of the protocol.
const (
	MaxFrame = chunk.MaxBlockSize + 4096
	MaxWant  = 64   // CIDs in one WANT
	MaxHave  = 1024 // CIDs in one HAVE
	// MaxProve bounds the CIDs of one PROVE: the prover reads and hashes
	// every block it holds of them, as much as a WANT of MaxWant sends.
	MaxProve  = 64
	NonceSize = 32 // bytes of a PROVE's nonce
	ProofSize = sha256.Size
	maxCID    = 256 // bytes of one encoded CID
)

// Frame types.
const (
	typeWant     byte = 0x01
	typeHave     byte = 0x02
	typePush     byte = 0x03
	typeProve    byte = 0x04
	typeBlock    byte = 0x11
	typeDontHave byte = 0x12
	typeHaves    byte = 0x13
	typeStored   byte = 0x14
	typeRefused  byte = 0x15
	typeProofs   byte = 0x16
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

// reserveStep is how much memory a frame's reading reserves at a time in
// the stream's resource scope: a peer that declares a large frame and
// sends it slowly holds only what it has sent.
const reserveStep = 64 << 10

// readBodyReserved is readBody with the body's memory reserved in the
// libp2p resource manager as its bytes arrive, so that many peers sending
// large frames at once are turned away by the limits the node set rather
// than exhausting its memory. release gives the reservation back once the
// body is no longer used; it is never nil.
func readBodyReserved(scope network.ResourceScope, r *bufio.Reader, n int, buf []byte) (body []byte, release func(), err error) {
	reserved := 0
	release = func() {
		if reserved > 0 {
			scope.ReleaseMemory(reserved)
			reserved = 0
		}
	}
	if cap(buf) >= n {
		body = buf[:n]
	} else {
		body = make([]byte, n)
	}
	for off := 0; off < n; {
		step := min(reserveStep, n-off)
		if err := scope.ReserveMemory(step, network.ReservationPriorityMedium); err != nil {
			release()
			return nil, func() {}, fmt.Errorf("exchange: frame of %d bytes: %w", n, err)
		}
		reserved += step
		if _, err := io.ReadFull(r, body[off:off+step]); err != nil {
			release()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, func() {}, err
		}
		off += step
	}
	return body, release, nil
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
	RefuseLeaving  RefuseCode = 5
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
	case RefuseLeaving:
		return "leaving"
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

// Proof is what a holder of data answers to a PROVE with nonce: SHA-256
// of the nonce and the block. Only a peer with the whole block at hand
// can work it out for a nonce it has not seen before; the asker checks it
// against its own copy, verified against the CID.
func Proof(nonce, data []byte) [ProofSize]byte {
	h := sha256.New()
	h.Write(nonce)
	h.Write(data)
	var out [ProofSize]byte
	h.Sum(out[:0])
	return out
}

// noProof is the answer for a block the prover does not hold.
var noProof [ProofSize]byte
