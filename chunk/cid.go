package chunk

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"lukechampine.com/blake3"
)

const (
	// ChunkSize is the size of a file's leaves (the last one may be shorter).
	ChunkSize = 256 << 10
	// MaxLinks is the most links an inner node holds.
	MaxLinks = 174
	// MaxBlockSize is the largest block cairn accepts from anyone.
	MaxBlockSize = 1 << 20
)

// Sentinel errors callers branch on.
var (
	ErrTooLarge         = errors.New("block larger than 1 MiB")
	ErrHashMismatch     = errors.New("block bytes do not match their CID")
	ErrUnsupportedHash  = errors.New("unsupported multihash")
	ErrUnsupportedCodec = errors.New("unsupported codec")
	ErrBadNode          = errors.New("malformed dag-pb node")
)

// HashFunc names a supported multihash function.
type HashFunc uint64

const (
	SHA2_256 HashFunc = mh.SHA2_256 // the default, as in IPFS
	BLAKE3   HashFunc = mh.BLAKE3   // 32-byte digests
)

// ParseHashFunc accepts the names kubo uses for --hash.
func ParseHashFunc(name string) (HashFunc, error) {
	switch strings.ToLower(name) {
	case "", "sha2-256", "sha256":
		return SHA2_256, nil
	case "blake3":
		return BLAKE3, nil
	}
	return 0, fmt.Errorf("%w %q: use sha2-256 or blake3", ErrUnsupportedHash, name)
}

func (h HashFunc) String() string {
	switch h {
	case SHA2_256:
		return "sha2-256"
	case BLAKE3:
		return "blake3"
	}
	return fmt.Sprintf("multihash-0x%x", uint64(h))
}

// Sum returns the multihash of data. Both supported functions give 32-byte
// digests, so the multihash is always the two-byte prefix and the digest.
func (h HashFunc) Sum(data []byte) (mh.Multihash, error) {
	var d [32]byte
	switch h {
	case SHA2_256:
		d = sha256.Sum256(data)
	case BLAKE3:
		d = blake3.Sum256(data)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedHash, h)
	}
	out := make([]byte, 2+len(d))
	out[0], out[1] = byte(h), byte(len(d))
	copy(out[2:], d[:])
	return out, nil
}

// NewCID hashes data with h and names it with codec (cid.Raw or
// cid.DagProtobuf) as a CIDv1.
func NewCID(h HashFunc, codec uint64, data []byte) (cid.Cid, error) {
	m, err := h.Sum(data)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(codec, m), nil
}

// HashFuncOf returns the hash function of a multihash, if cairn supports it.
func HashFuncOf(m mh.Multihash) (HashFunc, error) {
	dec, err := mh.Decode(m)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnsupportedHash, err)
	}
	h := HashFunc(dec.Code)
	if (h != SHA2_256 && h != BLAKE3) || dec.Length != 32 {
		return 0, fmt.Errorf("%w: %s with %d-byte digest", ErrUnsupportedHash, mh.Codes[dec.Code], dec.Length)
	}
	return h, nil
}

// CheckHash reports whether data hashes to the multihash m.
func CheckHash(m mh.Multihash, data []byte) error {
	h, err := HashFuncOf(m)
	if err != nil {
		return err
	}
	got, err := h.Sum(data)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, m) {
		return ErrHashMismatch
	}
	return nil
}

// Verify checks a block that came from outside (a peer, an upload) before
// it may be stored: size limit, supported codec and hash, bytes matching the
// CID, and, for dag-pb, a well-formed node.
func Verify(c cid.Cid, data []byte) error {
	if len(data) > MaxBlockSize {
		return fmt.Errorf("verify %s: %w (%d bytes)", c, ErrTooLarge, len(data))
	}
	switch c.Type() {
	case cid.Raw, cid.DagProtobuf:
	default:
		return fmt.Errorf("verify %s: %w 0x%x", c, ErrUnsupportedCodec, c.Type())
	}
	if err := CheckHash(c.Hash(), data); err != nil {
		return fmt.Errorf("verify %s: %w", c, err)
	}
	if c.Type() == cid.DagProtobuf {
		if _, err := DecodeNode(data); err != nil {
			return fmt.Errorf("verify %s: %w", c, err)
		}
	}
	return nil
}

// ParseCID parses a CID given by a user, with a message that says what is
// wrong rather than go-cid's internals.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(strings.TrimSpace(s))
	if err != nil {
		return cid.Undef, fmt.Errorf("invalid CID %q: %w", s, err)
	}
	return c, nil
}
