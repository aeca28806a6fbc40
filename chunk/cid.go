package chunk

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
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
	// ErrBadNode means a block's bytes do not decode as its codec says
	// (dag-pb, dag-cbor, dag-json, json or cbor).
	ErrBadNode = errors.New("malformed node")
)

// HashFunc names a multihash function cairn adds with. Verify accepts more
// (sha2-512, identity: see CheckHash), since blocks made elsewhere use
// them, but cairn never makes such blocks itself, so they are not HashFuncs.
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

// HashFuncOf returns the hash function of a multihash, if cairn can add
// with it (sha2-256 or blake3). Use CheckHash to verify a block, which
// accepts more functions.
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

// CheckHash reports whether data hashes to the multihash m. It accepts
// sha2-256, blake3 (32-byte digests), sha2-512 (64-byte digests) and the
// identity hash, whose digest is the data itself. Truncated digests are
// refused: nothing cairn serves uses them, and accepting them would weaken
// what a CID guarantees.
func CheckHash(m mh.Multihash, data []byte) error {
	dec, err := mh.Decode(m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupportedHash, err)
	}
	var got []byte
	switch {
	case dec.Code == mh.IDENTITY:
		got = data
	case dec.Code == mh.SHA2_256 && dec.Length == sha256.Size:
		d := sha256.Sum256(data)
		got = d[:]
	case dec.Code == mh.BLAKE3 && dec.Length == 32:
		d := blake3.Sum256(data)
		got = d[:]
	case dec.Code == mh.SHA2_512 && dec.Length == sha512.Size:
		d := sha512.Sum512(data)
		got = d[:]
	default:
		return fmt.Errorf("%w: %s with %d-byte digest", ErrUnsupportedHash, mh.Codes[dec.Code], dec.Length)
	}
	if !bytes.Equal(got, dec.Digest) {
		return ErrHashMismatch
	}
	return nil
}

// IsIdentity reports whether c's multihash is the identity hash: its
// bytes are in the CID, so there is nothing to store, fetch or send.
func IsIdentity(c cid.Cid) bool {
	return c.Defined() && c.Prefix().MhType == mh.IDENTITY
}

// IdentityData returns the bytes an identity CID carries. The slice is
// the caller's: it does not alias the CID.
func IdentityData(c cid.Cid) ([]byte, bool) {
	if !c.Defined() {
		return nil, false
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil || dec.Code != mh.IDENTITY {
		return nil, false
	}
	return bytes.Clone(dec.Digest), true
}

// Verify checks a block that came from outside (a peer, an upload) before
// it may be stored: size limit, supported codec and hash, bytes matching the
// CID, and bytes that decode as the codec says (see checkCodec), so that a
// walker never meets a block it cannot read. An identity CID verifies
// against its own bytes like any other.
func Verify(c cid.Cid, data []byte) error {
	if len(data) > MaxBlockSize {
		return fmt.Errorf("verify %s: %w (%d bytes)", c, ErrTooLarge, len(data))
	}
	if !knownCodec(c.Type()) {
		return fmt.Errorf("verify %s: %w 0x%x", c, ErrUnsupportedCodec, c.Type())
	}
	if err := CheckHash(c.Hash(), data); err != nil {
		return fmt.Errorf("verify %s: %w", c, err)
	}
	if err := checkCodec(c, data); err != nil {
		return fmt.Errorf("verify %s: %w", c, err)
	}
	return nil
}

// ParseCID parses a CID given by a user, CIDv0 (Qm...) or CIDv1 in any
// multibase, with a message that says what is wrong rather than go-cid's
// internals.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(strings.TrimSpace(s))
	if err != nil {
		return cid.Undef, fmt.Errorf("invalid CID %q: %w", s, err)
	}
	return c, nil
}
