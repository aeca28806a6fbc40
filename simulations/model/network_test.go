package model

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	pstore "github.com/libp2p/go-libp2p/p2p/host/peerstore"
)

func (net *network) peerID(p uint32) peer.ID {
	b := peerIDBytes(net.keys[p])
	return peer.ID(b[:])
}

func testNetwork(t *testing.T, seed uint64, n, k int) *network {
	t.Helper()
	net, err := newNetwork(seed, n, k)
	if err != nil {
		t.Fatalf("newNetwork(%d, %d, %d): %v", seed, n, k, err)
	}
	return net
}

// realTable builds go-libp2p-kbucket's table for peer self, offering it
// the peers of first, in order, then the peers of rest.
func realTable(t *testing.T, net *network, self uint32, first, rest []uint32) *kb.RoutingTable {
	t.Helper()
	rt, err := kb.NewRoutingTable(net.k, kb.ConvertPeerID(net.peerID(self)), time.Hour, pstore.NewMetrics(), time.Hour, nil)
	if err != nil {
		t.Fatalf("kbucket table: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	for _, q := range slices.Concat(first, rest) {
		if q == self {
			continue
		}
		// Rejections (full buckets) are expected; they return an error.
		_, _ = rt.TryAddPeer(net.peerID(q), true, false)
	}
	return rt
}

func (net *network) ids32(ps []uint32) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = net.peerID(p)
	}
	return out
}

func TestKeyspaceMatchesKbucket(t *testing.T) {
	net := testNetwork(t, 7, 50, 20)
	for p := range uint32(net.size()) {
		pid := net.peerID(p)
		if err := pid.Validate(); err != nil {
			t.Fatalf("peer %d: ID does not parse: %v", p, err)
		}
		if _, err := pid.ExtractPublicKey(); err != nil {
			t.Fatalf("peer %d: ID is not an Ed25519 identity ID: %v", p, err)
		}
		want := kb.ConvertPeerID(pid)
		got := net.ids[p]
		if !bytes.Equal(want, kadBytes(got)) {
			t.Fatalf("peer %d: kad ID %x, kbucket says %x", p, kadBytes(got), want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		mh := blockMultihash(randBytes32(r))
		want := kb.ConvertKey(string(mh[:]))
		if got := kadIDOf(mh[:]); !bytes.Equal(want, kadBytes(got)) {
			t.Fatalf("key %x: kad ID %x, kbucket says %x", mh, kadBytes(got), want)
		}
		a, b := net.ids[r.IntN(net.size())], kadIDOf(mh[:])
		if got, want := commonPrefixLen(a, b), kb.CommonPrefixLen(kadBytes(a), kadBytes(b)); got != want {
			t.Fatalf("common prefix length %d, kbucket says %d", got, want)
		}
	}
}

func kadBytes(id kadID) []byte {
	b := make([]byte, 32)
	for i, w := range id {
		for j := range 8 {
			b[8*i+j] = byte(w >> (56 - 8*j))
		}
	}
	return b
}

// TestTablesMatchKbucket offers a real kbucket table the model's chosen
// peers first and then everyone else: if the model's table has the shape
// kbucket gives (k per bucket, the last bucket where kbucket stops
// splitting), kbucket keeps exactly those peers and rejects the rest, and
// its NearestPeers agrees with the model's for any key.
func TestTablesMatchKbucket(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, k int
	}{
		{"k4", 400, 4},
		{"k20", 500, 20},
		{"tiny", 15, 20}, // one bucket holding everyone
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := testNetwork(t, 11, tc.n, tc.k)
			r := rand.New(rand.NewPCG(3, 4))
			all := make([]uint32, net.size())
			for i := range all {
				all[i] = uint32(i)
			}
			selves := all
			if testing.Short() {
				selves = all[:min(len(all), 60)]
			}
			for _, p := range selves {
				table := slices.Clone(net.table(p))
				rest := slices.DeleteFunc(slices.Clone(all), func(q uint32) bool { return slices.Contains(table, q) })
				r.Shuffle(len(table), func(i, j int) { table[i], table[j] = table[j], table[i] })
				r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
				rt := realTable(t, net, p, table, rest)

				got := rt.ListPeers()
				want := net.ids32(table)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("peer %d: kbucket kept %d peers, model table has %d (or they differ)", p, len(got), len(want))
				}
				for range 10 {
					mh := blockMultihash(randBytes32(r))
					target := kadIDOf(mh[:])
					for _, count := range []int{1, tc.k, tc.k + 1, 3 * tc.k} {
						want := rt.NearestPeers(kb.ConvertKey(string(mh[:])), count)
						var got []peer.ID
						for _, c := range net.nearest(nil, p, target, count) {
							got = append(got, net.peerID(c.p))
						}
						if !slices.Equal(got, want) {
							t.Fatalf("peer %d, %d nearest to %x: model %v, kbucket %v", p, count, mh, got, want)
						}
					}
				}
			}
		})
	}
}

// TestBucketPopulationsMatchKbucket offers a real kbucket table every peer
// in a random order: whichever peers it keeps, it keeps as many per common
// prefix length as the model's table has.
func TestBucketPopulationsMatchKbucket(t *testing.T) {
	net := testNetwork(t, 5, 300, 4)
	r := rand.New(rand.NewPCG(5, 6))
	for p := range uint32(40) {
		order := make([]uint32, net.size())
		for i := range order {
			order[i] = uint32(i)
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		rt := realTable(t, net, p, order, nil)
		var want [257]int
		for _, q := range net.table(p) {
			want[commonPrefixLen(net.ids[p], net.ids[q])]++
		}
		for c := range uint(len(want)) {
			if got := rt.NPeersForCpl(c); got != want[c] {
				t.Fatalf("peer %d, cpl %d: kbucket holds %d peers, model %d", p, c, got, want[c])
			}
		}
	}
}

// TestNearestIsExact checks the bucket-gathering nearest against a brute
// force sort of the whole table, and closest against the whole network.
func TestNearestIsExact(t *testing.T) {
	net := testNetwork(t, 9, 2000, 4)
	r := rand.New(rand.NewPCG(7, 8))
	brute := func(ps []uint32, target kadID, count int) []uint32 {
		cs := make([]candidate, 0, len(ps))
		for _, q := range ps {
			cs = append(cs, candidate{net.ids[q].xor(target), q})
		}
		slices.SortFunc(cs, byDistance)
		var out []uint32
		for _, c := range cs[:min(count, len(cs))] {
			out = append(out, c.p)
		}
		return out
	}
	all := make([]uint32, net.size())
	for i := range all {
		all[i] = uint32(i)
	}
	for range 200 {
		p := uint32(r.IntN(net.size()))
		target := kadIDOf([]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		if r.IntN(4) == 0 {
			target = net.ids[r.IntN(net.size())] // a peer's own point
		}
		for _, count := range []int{1, 4, 5, 20} {
			var got []uint32
			for _, c := range net.nearest(nil, p, target, count) {
				got = append(got, c.p)
			}
			if want := brute(net.table(p), target, count); !slices.Equal(got, want) {
				t.Fatalf("peer %d: nearest %d: got %v, want %v", p, count, got, want)
			}
			if got, want := net.closest(target, count), brute(all, target, count); !slices.Equal(got, want) {
				t.Fatalf("closest %d: got %v, want %v", count, got, want)
			}
		}
	}
}

func TestNetworkRejectsBadSizes(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{0, 20}, {maxPeers + 1, 20}, {10, 0}, {maxPeers, 40}} {
		if _, err := newNetwork(1, tc.n, tc.k); err == nil {
			t.Errorf("newNetwork(n=%d, k=%d): no error", tc.n, tc.k)
		}
	}
}
