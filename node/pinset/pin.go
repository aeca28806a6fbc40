// Package pinset is the cluster's pin set: the DAG roots the cluster
// keeps, replicated to every node. It is go-ds-crdt's Merkle-CRDT (an
// add-wins observed-remove set) persisted in goleveldb: each change is a
// delta, an IPLD block linking the heads before it, and a node announces
// its heads over gossipsub; a node that hears of heads it lacks fetches
// the deltas below them from its peers and merges them. So every node
// converges on the same set, a node that was away catches up from the
// next announcement, and the set outlives any node.
//
// The package owns the set and the two protocols around it: the heads'
// gossipsub topic (with a validator that drops malformed or unauthorised
// announcements) and a small ack protocol by which a writer learns that
// a peer holds its entry. Where delta blocks live and how they travel is
// the caller's (Config.Blocks and Config.Fetch).
package pinset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Pin is one entry of the set.
type Pin struct {
	Root     cid.Cid
	Name     string    // a label for people; not unique
	Replicas int       // copies wanted; 0 means the cluster's R
	By       peer.ID   // the node that pinned it
	At       time.Time // when, by that node's clock
	Bytes    uint64    // the DAG's size, as the pinning node knew it
}

// Limits on what an entry may hold; a delta that breaks them is refused.
const (
	MaxName  = 255
	maxValue = 1 << 10
)

var (
	// ErrNotPinned: the root is not in the set.
	ErrNotPinned = errors.New("not pinned")
	// ErrInvalid: a pin that cannot be stored (bad name, replicas).
	ErrInvalid = errors.New("invalid pin")
)

// entry is a pin's value in the CRDT, as JSON.
type entry struct {
	Name     string `json:"name,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
	By       string `json:"by,omitempty"`
	At       int64  `json:"at"` // Unix nanoseconds
	Bytes    uint64 `json:"bytes"`
}

// key is where a root lives in the CRDT: "/" and its CID in the
// canonical string form.
func key(root cid.Cid) string { return "/" + root.String() }

// parseKey is key's inverse; strict, it refuses anything key would not
// make (a CID in another base, say).
func parseKey(k string, strict bool) (cid.Cid, error) {
	s, ok := strings.CutPrefix(k, "/")
	if !ok || strings.Contains(s, "/") {
		return cid.Undef, fmt.Errorf("pinset: bad key %q", k)
	}
	c, err := cid.Decode(s)
	if err != nil || (strict && c.String() != s) {
		return cid.Undef, fmt.Errorf("pinset: bad key %q", k)
	}
	return c, nil
}

// CheckName refuses a name the set would not store.
func CheckName(name string) error {
	if len(name) > MaxName || strings.ContainsAny(name, "\x00\n\r") {
		return fmt.Errorf("%w: name longer than %d bytes or with control characters", ErrInvalid, MaxName)
	}
	return nil
}

func (p Pin) validate() error {
	if !p.Root.Defined() {
		return fmt.Errorf("%w: no root", ErrInvalid)
	}
	if err := CheckName(p.Name); err != nil {
		return err
	}
	if p.Replicas < 0 || p.Replicas > 64 {
		return fmt.Errorf("%w: replicas %d outside [0, 64]", ErrInvalid, p.Replicas)
	}
	return nil
}

func (p Pin) encode() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	e := entry{Name: p.Name, Replicas: p.Replicas, Bytes: p.Bytes}
	if p.By != "" {
		e.By = p.By.String()
	}
	if !p.At.IsZero() {
		e.At = p.At.UnixNano()
	}
	return json.Marshal(e)
}

// decodePin reads an entry back, as strictly as encode writes it: a
// value a peer made up is refused, not half-read.
func decodePin(k string, v []byte) (Pin, error) {
	return entryDecoder{strict: true}.decode(k, v)
}

// entryDecoder reads entries. A strict one refuses unknown fields and
// non-canonical keys: it reads what peers send. A listing of the local
// replica, whose every entry was checked when it merged, skips those two
// checks and remembers the pinners it decoded (a listing meets the same
// few node IDs over and over, and decoding one, base58, costs more than
// the rest of the entry).
type entryDecoder struct {
	strict  bool
	pinners map[string]peer.ID
}

func (d entryDecoder) decode(k string, v []byte) (Pin, error) {
	root, err := parseKey(k, d.strict)
	if err != nil {
		return Pin{}, err
	}
	if len(v) > maxValue {
		return Pin{}, fmt.Errorf("pinset: %s: value of %d bytes", root, len(v))
	}
	var e entry
	if d.strict {
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		err = dec.Decode(&e)
	} else {
		err = json.Unmarshal(v, &e)
	}
	if err != nil {
		return Pin{}, fmt.Errorf("pinset: %s: bad value: %w", root, err)
	}
	p := Pin{Root: root, Name: e.Name, Replicas: e.Replicas, Bytes: e.Bytes}
	if e.By != "" {
		var ok bool
		if p.By, ok = d.pinners[e.By]; !ok {
			if p.By, err = peer.Decode(e.By); err != nil {
				return Pin{}, fmt.Errorf("pinset: %s: bad pinner: %w", root, err)
			}
			if d.pinners != nil {
				d.pinners[e.By] = p.By
			}
		}
	}
	if e.At != 0 {
		p.At = time.Unix(0, e.At).UTC()
	}
	if err := p.validate(); err != nil {
		return Pin{}, fmt.Errorf("pinset: %s: %w", root, err)
	}
	return p, nil
}
