package chunk

import (
	"encoding/binary"
	"fmt"
)

// maxCBORDepth bounds nesting in a plain cbor block; the dag-cbor decoder
// has its own bound.
const maxCBORDepth = 1024

// checkCBOR reports whether data is exactly one well-formed CBOR data item
// (RFC 8949 appendix C). Plain cbor (codec 0x51), unlike dag-cbor, may use
// any tag, indefinite lengths, undefined and simple values, so the
// dag-cbor decoder would refuse blocks that are fine; only the encoding
// itself is checked here.
func checkCBOR(data []byte) error {
	rest, err := cborItem(data, 0)
	if err != nil {
		return fmt.Errorf("%w: cbor: %v", ErrBadNode, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: cbor: %d bytes after the data item", ErrBadNode, len(rest))
	}
	return nil
}

// errCBOR names what is wrong; checkCBOR wraps it in ErrBadNode.
type errCBOR string

func (e errCBOR) Error() string { return string(e) }

const (
	cborTruncated  = errCBOR("truncated")
	cborReserved   = errCBOR("reserved additional information")
	cborBadBreak   = errCBOR("break outside an indefinite-length item")
	cborBadIndef   = errCBOR("indefinite length where none is allowed")
	cborBadChunk   = errCBOR("indefinite-length string chunk of the wrong type")
	cborTooDeep    = errCBOR("nested too deeply")
	cborBadSimple  = errCBOR("two-byte simple value below 32")
	cborOddMapBody = errCBOR("indefinite-length map with a key and no value")
)

// cborHead reads an item's initial byte and argument. indef is set for
// additional information 31, which the caller interprets by major type.
func cborHead(b []byte) (major byte, arg uint64, indef bool, rest []byte, err error) {
	if len(b) == 0 {
		return 0, 0, false, nil, cborTruncated
	}
	major, ai := b[0]>>5, b[0]&0x1f
	b = b[1:]
	switch {
	case ai < 24:
		return major, uint64(ai), false, b, nil
	case ai == 31:
		return major, 0, true, b, nil
	case ai > 27:
		return 0, 0, false, nil, cborReserved
	}
	n := 1 << (ai - 24) // 1, 2, 4 or 8 bytes follow
	if len(b) < n {
		return 0, 0, false, nil, cborTruncated
	}
	switch n {
	case 1:
		arg = uint64(b[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b))
	default:
		arg = binary.BigEndian.Uint64(b)
	}
	if major == 7 && ai == 24 && arg < 32 {
		return 0, 0, false, nil, cborBadSimple
	}
	return major, arg, false, b[n:], nil
}

// cborItem checks one data item at the start of b and returns what follows.
func cborItem(b []byte, depth int) ([]byte, error) {
	if depth > maxCBORDepth {
		return nil, cborTooDeep
	}
	major, arg, indef, b, err := cborHead(b)
	if err != nil {
		return nil, err
	}
	switch major {
	case 0, 1: // integers: the head is the whole item
		if indef {
			return nil, cborBadIndef
		}
		return b, nil
	case 2, 3: // byte and text strings
		if !indef {
			if arg > uint64(len(b)) {
				return nil, cborTruncated
			}
			return b[arg:], nil
		}
		// Chunks of the same major type with definite lengths, then break.
		for {
			if len(b) > 0 && b[0] == 0xff {
				return b[1:], nil
			}
			m, n, ind, r, err := cborHead(b)
			if err != nil {
				return nil, err
			}
			if m != major || ind {
				return nil, cborBadChunk
			}
			if n > uint64(len(r)) {
				return nil, cborTruncated
			}
			b = r[n:]
		}
	case 4, 5: // arrays and maps
		per := uint64(1)
		if major == 5 {
			per = 2
		}
		if indef {
			for i := uint64(0); ; i++ {
				if len(b) > 0 && b[0] == 0xff {
					if i%per != 0 {
						return nil, cborOddMapBody
					}
					return b[1:], nil
				}
				if b, err = cborItem(b, depth+1); err != nil {
					return nil, err
				}
			}
		}
		// Every item takes at least a byte: a count beyond what is left is
		// truncated, and checking that first stops a huge count looping.
		if arg > uint64(len(b))/per {
			return nil, cborTruncated
		}
		for i := uint64(0); i < arg*per; i++ {
			if b, err = cborItem(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 6: // a tag applies to the one item after it
		if indef {
			return nil, cborBadIndef
		}
		return cborItem(b, depth+1)
	default: // 7: simple values and floats, whose head is the whole item
		if indef {
			return nil, cborBadBreak
		}
		return b, nil
	}
}
