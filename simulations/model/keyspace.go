package model

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// kadID is a point of kad-dht's XOR keyspace: the SHA-256 of a peer ID's
// bytes (kbucket.ConvertPeerID) or of a key (kbucket.ConvertKey), held as
// four big-endian words so that comparing words in order compares the
// 32 bytes lexicographically, which is how kbucket orders distances.
type kadID [4]uint64

// kadIDOf hashes b into the keyspace, as kbucket.ConvertPeerID and
// ConvertKey do.
func kadIDOf(b []byte) kadID {
	return fromDigest(sha256.Sum256(b))
}

func fromDigest(h [32]byte) kadID {
	var id kadID
	for i := range id {
		id[i] = binary.BigEndian.Uint64(h[8*i:])
	}
	return id
}

func (a kadID) xor(b kadID) kadID {
	return kadID{a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]}
}

// cmp orders IDs (or XOR distances) as bytes.Compare orders their bytes.
func (a kadID) cmp(b kadID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// bit returns bit i (0 is the most significant) of a.
func (a kadID) bit(i int) uint64 {
	return a[i/64] >> (63 - uint(i%64)) & 1
}

// commonPrefixLen is kbucket.CommonPrefixLen: the leading zero bits of a
// XOR b, 256 for equal IDs.
func commonPrefixLen(a, b kadID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return 64*i + bits.LeadingZeros64(x)
		}
	}
	return 256
}

// peerIDLen is the length of a libp2p Ed25519 peer ID: an identity
// multihash (0x00, length 0x24) of the protobuf PublicKey message
// (0x08 0x01 = type Ed25519, 0x12 0x20 = 32 bytes of key data).
const peerIDLen = 38

// peerIDBytes lays out an Ed25519 peer ID around 32 key bytes. The model
// draws the key bytes at random rather than deriving them from private
// keys: SHA-256 of the ID is what places a peer, and its output is spread
// the same way either way, at a fraction of the cost for 100,000 peers.
func peerIDBytes(key [32]byte) [peerIDLen]byte {
	var b [peerIDLen]byte
	copy(b[:6], []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20})
	copy(b[6:], key[:])
	return b
}

// multihashLen is the length of a sha2-256 multihash, cairn's default
// block hash (chunk.SHA2_256): code 0x12, length 0x20, 32-byte digest.
const multihashLen = 34

// blockMultihash is the multihash of a block with the given digest.
// kad-dht looks up providers under string(multihash), so its keyspace
// point is the SHA-256 of these bytes.
func blockMultihash(digest [32]byte) [multihashLen]byte {
	var b [multihashLen]byte
	b[0], b[1] = 0x12, 0x20
	copy(b[2:], digest[:])
	return b
}

func randBytes32(r *rand.Rand) [32]byte {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// mix is splitmix64's finaliser: it spreads related inputs (a seed and a
// small counter) into unrelated PCG streams.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Stream purposes, so that the randomness of one part of a run does not
// shift when another part draws more or fewer numbers.
const (
	streamIDs = iota + 1
	streamTables
	streamOffline
	streamLookups
)

// newRand returns the generator for one purpose at one network size; a
// run is a pure function of its seed.
func newRand(seed uint64, purpose, n, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(mix(seed^mix(purpose)), mix(n<<32^i)))
}
