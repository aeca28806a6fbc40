package repair

import (
	"bytes"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// View is an immutable snapshot of where a policy would place copies: the
// live peers that are not passed over as full, self included, with their
// keyspace positions worked out once. A Policy hands out the same View
// until its live or full set changes, so the node's run loop can publish
// it (an atomic pointer) and the write path, drains and probes place
// copies from any goroutine without asking the loop: Add places every
// block of a file, 4,096 of them for 1 GiB.
type View struct {
	self       peer.ID
	cands      []candidate // live, neither full nor distrusted
	live       int         // live peers, full and distrusted ones included
	distrusted map[peer.ID]bool
	vouched    map[peer.ID]bool
}

type candidate struct {
	id  peer.ID
	pos kb.ID // SHA-256 of the peer ID, as kad-dht computes it
}

func newView(self peer.ID, live map[peer.ID]bool, full, failed, vouched map[peer.ID]time.Time) *View {
	v := &View{self: self, live: len(live), distrusted: map[peer.ID]bool{}, vouched: map[peer.ID]bool{}}
	for id := range failed {
		v.distrusted[id] = true
	}
	for id := range vouched {
		v.vouched[id] = true
	}
	for id := range live {
		if _, ok := full[id]; !ok && !v.distrusted[id] {
			v.cands = append(v.cands, candidate{id: id, pos: kb.ConvertPeerID(id)})
		}
	}
	return v
}

// Distrusted reports whether p failed a proof of possession and is
// passed over for it.
func (v *View) Distrusted(p peer.ID) bool { return v.distrusted[p] }

// Vouched reports whether p proved possession of a block to this node
// within the policy's DistrustFor.
func (v *View) Vouched(p peer.ID) bool { return v.vouched[p] }

// Keeps reports whether key belongs on this node: whether it is among
// the n live peers closest to key that have proved possession of a block
// to it and are neither full nor distrusted. Peers never vouched for do
// not take places, so peers that only exist near a key (Sybils with IDs
// ground to sit there) cannot push the nodes that keep it out; a node
// that has vouched for nobody yet keeps everything (admission is then
// bounded by the per-peer quota alone).
func (v *View) Keeps(key mh.Multihash, n int) bool {
	order := v.sorted(key, func(id peer.ID) bool { return id != v.self && !v.vouched[id] })
	return slices.Contains(order[:min(n, len(order))], v.self)
}

// Self is the policy's own peer.
func (v *View) Self() peer.ID { return v.self }

// Live is how many peers the view counts live, self and full peers
// included.
func (v *View) Live() int { return v.live }

// Placement is where one chunk's missing copies go, nearest first. Push
// holds the first choices, as many as copies are missing (fewer when
// there are not that many peers); Fallback holds the next closest peers,
// in order, each to take the place of a first choice that refuses or
// fails. Neither holds this node, a known holder, or a full peer.
type Placement struct {
	Push     []peer.ID
	Fallback []peer.ID
}

// Need is the number of copies the placement is to make.
func (pl Placement) Need() int { return len(pl.Push) }

// Targets lists every peer to try, in order: Push, then Fallback.
func (pl Placement) Targets() []peer.ID {
	return append(slices.Clip(pl.Push), pl.Fallback...)
}

// Place chooses the peers that should take need more copies of key: the
// live peers closest to it that are not full, not this node and not in
// exclude (the chunk's holders, and peers already tried). It is the one
// placement rule that writes, repairs and drains share.
func (v *View) Place(key mh.Multihash, exclude []peer.ID, need int) Placement {
	if need <= 0 {
		return Placement{}
	}
	order := v.sorted(key, func(id peer.ID) bool {
		return id == v.self || slices.Contains(exclude, id)
	})
	n := min(need, len(order))
	pl := Placement{Push: order[:n:n]}
	if n < len(order) {
		pl.Fallback = order[n:]
	}
	return pl
}

// Closest returns up to n live peers (self included) closest to key,
// passing over peers that are full, nearest first.
func (v *View) Closest(key mh.Multihash, n int) []peer.ID {
	order := v.sorted(key, nil)
	return order[:min(n, len(order))]
}

// sorted orders the candidates that skip does not reject by XOR distance
// to key, nearest first, exactly as kb.SortClosestPeers does but without
// hashing every peer ID again for every chunk.
func (v *View) sorted(key mh.Multihash, skip func(peer.ID) bool) []peer.ID {
	target := kb.ConvertKey(string(key))
	type dist struct {
		id peer.ID
		d  []byte
	}
	ds := make([]dist, 0, len(v.cands))
	buf := make([]byte, len(v.cands)*len(target))
	for _, c := range v.cands {
		if skip != nil && skip(c.id) {
			continue
		}
		d := buf[:len(target):len(target)]
		buf = buf[len(target):]
		for i := range d {
			d[i] = c.pos[i] ^ target[i]
		}
		ds = append(ds, dist{c.id, d})
	}
	slices.SortFunc(ds, func(a, b dist) int { return bytes.Compare(a.d, b.d) })
	out := make([]peer.ID, len(ds))
	for i, d := range ds {
		out[i] = d.id
	}
	return out
}
