package model

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// network is a converged Kademlia network held compactly: peers are
// uint32 indices, numbered in keyspace order so that the peers sharing a
// prefix with any point form one contiguous index range, and all routing
// tables live in one slab of indices.
type network struct {
	k    int
	ids  []kadID    // keyspace point of each peer, ascending
	keys [][32]byte // the key bytes of each peer's ID (peerIDBytes)

	// Peer p has first[p+1]-first[p]-1 buckets; bucket b of p holds
	// entries[bounds[first[p]+b]:bounds[first[p]+b+1]].
	entries []uint32
	bounds  []uint32
	first   []uint32
}

// maxPeers bounds network size so that table offsets fit in uint32 and
// memory stays sane: a million peers with k=20 hold about 330M table
// entries, 1.5 GB resident in all.
const maxPeers = MaxPeers

// maxEntries bounds the table slab (2 GiB of uint32), which admits a
// million peers at k=20 but not at k=40.
const maxEntries = 1 << 29

// newNetwork draws n peer IDs and builds every peer's routing table with
// bucket size k, all from seed.
func newNetwork(seed uint64, n, k int) (*network, error) {
	if n < 1 || n > maxPeers {
		return nil, fmt.Errorf("network of %d peers: want 1..%d", n, maxPeers)
	}
	if k < 1 {
		return nil, fmt.Errorf("network with bucket size %d: want at least 1", k)
	}
	est, nb, err := tableEstimate(n, k)
	if err != nil {
		return nil, err
	}
	type peer struct {
		id  kadID
		key [32]byte
	}
	r := newRand(seed, streamIDs, uint64(n), 0)
	ps := make([]peer, n)
	for i := range ps {
		ps[i].key = randBytes32(r)
		b := peerIDBytes(ps[i].key)
		ps[i].id = kadIDOf(b[:])
	}
	slices.SortFunc(ps, func(a, b peer) int { return a.id.cmp(b.id) })
	net := &network{k: k, ids: make([]kadID, n), keys: make([][32]byte, n)}
	for i, p := range ps {
		if i > 0 && p.id == ps[i-1].id {
			// Two SHA-256 outputs colliding would be news; refuse
			// rather than model a keyspace with a shared point.
			return nil, fmt.Errorf("network of %d peers: two peers share keyspace point %x", n, p.id)
		}
		net.ids[i], net.keys[i] = p.id, p.key
	}
	net.buildTables(newRand(seed, streamTables, uint64(n), 0), est, nb)
	return net, nil
}

// tableEstimate returns a little over the table entries of a network of n
// peers and the buckets per table: a table has about log2(n/k)+1 full
// buckets and a last one of at most k. Reserving that once spares
// append's doubling, and refusing more than maxEntries keeps offsets in
// uint32 and memory in bounds.
func tableEstimate(n, k int) (entries, buckets int, err error) {
	buckets = bits.Len(uint(n/k)) + 2
	entries = min(n*k*buckets, n*(n-1))
	if entries > maxEntries {
		return 0, 0, fmt.Errorf("network of %d peers with bucket size %d: about %d table entries, over the limit of %d", n, k, entries, maxEntries)
	}
	return entries, buckets, nil
}

// splitAt returns the first index in [lo, hi) whose ID has bit b set.
// The range must share its first b bits, so its IDs with bit b clear come
// first.
func (net *network) splitAt(lo, hi, b int) int {
	i, j := lo, hi
	for i < j {
		m := int(uint(i+j) >> 1)
		if net.ids[m].bit(b) == 0 {
			i = m + 1
		} else {
			j = m
		}
	}
	return i
}

// buildTables fills every routing table as a kbucket table that had been
// offered every peer would end up: for each common prefix length c with
// more than k peers beyond it, bucket c holds k peers drawn at random from
// the peers whose common prefix length with the owner is exactly c (kbucket
// keeps the first k it meets, and the order peers are met in is random);
// the last bucket holds every peer that shares more bits than that, which
// is what kbucket's last bucket holds once it has stopped splitting (it
// splits whenever it has k peers and meets another that belongs in it).
// entries and buckets are the expected table slab size and buckets per
// table, to allocate once.
func (net *network) buildTables(r *rand.Rand, entries, buckets int) {
	n := len(net.ids)
	net.first = make([]uint32, n+1)
	net.entries = make([]uint32, 0, entries)
	net.bounds = make([]uint32, 0, n*(buckets+1))
	for p := range n {
		net.first[p] = uint32(len(net.bounds))
		lo, hi := 0, n // the peers sharing the first c bits with p
		for c := 0; ; c++ {
			net.bounds = append(net.bounds, uint32(len(net.entries)))
			if hi-lo-1 <= net.k || c == 256 {
				for q := lo; q < hi; q++ {
					if q != p {
						net.entries = append(net.entries, uint32(q))
					}
				}
				break
			}
			mid := net.splitAt(lo, hi, c)
			olo, ohi := mid, hi // the other half: prefix length exactly c
			if net.ids[p].bit(c) == 1 {
				olo, ohi = lo, mid
				lo = mid
			} else {
				hi = mid
			}
			net.entries = sample(r, net.entries, olo, ohi, net.k)
		}
		net.bounds = append(net.bounds, uint32(len(net.entries)))
	}
	net.first[n] = uint32(len(net.bounds))
}

// sample appends min(k, hi-lo) distinct indices drawn uniformly from
// [lo, hi), by Floyd's algorithm.
func sample(r *rand.Rand, dst []uint32, lo, hi, k int) []uint32 {
	m := hi - lo
	if m <= k {
		for q := lo; q < hi; q++ {
			dst = append(dst, uint32(q))
		}
		return dst
	}
	start := len(dst)
	for j := m - k; j < m; j++ {
		t := uint32(lo + r.IntN(j+1))
		if slices.Contains(dst[start:], t) {
			t = uint32(lo + j)
		}
		dst = append(dst, t)
	}
	return dst
}

func (net *network) size() int { return len(net.ids) }

// numBuckets returns how many buckets p's table has.
func (net *network) numBuckets(p uint32) int {
	return int(net.first[p+1]-net.first[p]) - 1
}

// bucket returns bucket b of p's table.
func (net *network) bucket(p uint32, b int) []uint32 {
	f := net.first[p] + uint32(b)
	return net.entries[net.bounds[f]:net.bounds[f+1]]
}

// table returns all of p's table, bucket by bucket.
func (net *network) table(p uint32) []uint32 {
	return net.entries[net.bounds[net.first[p]]:net.bounds[net.first[p+1]-1]]
}

// candidate is a peer and its distance to a lookup's target.
type candidate struct {
	d kadID
	p uint32
}

func byDistance(a, b candidate) int { return a.d.cmp(b.d) }

// nearest appends to buf the count peers of p's table nearest to target,
// nearest first, gathering buckets as kbucket's NearestPeers does: the
// target's own bucket, then if short every bucket to its right (all share
// the same prefix with the target), then buckets to its left one by one.
func (net *network) nearest(buf []candidate, p uint32, target kadID, count int) []candidate {
	buf = buf[:0]
	nb := net.numBuckets(p)
	c := min(commonPrefixLen(target, net.ids[p]), nb-1)
	add := func(b int) {
		for _, q := range net.bucket(p, b) {
			buf = append(buf, candidate{net.ids[q].xor(target), q})
		}
	}
	add(c)
	if len(buf) < count {
		for b := c + 1; b < nb; b++ {
			add(b)
		}
	}
	for b := c - 1; b >= 0 && len(buf) < count; b-- {
		add(b)
	}
	slices.SortFunc(buf, byDistance)
	return buf[:min(count, len(buf))]
}

// closest returns the count peers of the whole network nearest to target,
// nearest first: the peers kad-dht's ADD_PROVIDER would store a record on
// once its lookup converged.
func (net *network) closest(target kadID, count int) []uint32 {
	lo, hi := 0, net.size()
	// Narrow to the smallest prefix range around target still holding
	// count peers: anyone outside it shares fewer bits with target than
	// everyone inside, so is farther.
	for c := 0; c < 256; c++ {
		mid := net.splitAt(lo, hi, c)
		nlo, nhi := lo, mid
		if target.bit(c) == 1 {
			nlo, nhi = mid, hi
		}
		if nhi-nlo < count {
			break
		}
		lo, hi = nlo, nhi
	}
	cs := make([]candidate, 0, hi-lo)
	for q := lo; q < hi; q++ {
		cs = append(cs, candidate{net.ids[q].xor(target), uint32(q)})
	}
	slices.SortFunc(cs, byDistance)
	out := make([]uint32, 0, count)
	for _, c := range cs[:min(count, len(cs))] {
		out = append(out, c.p)
	}
	return out
}
