package model

import (
	"testing"
)

// handNetwork builds a network around target by hand: peer i sits at XOR
// distance dist[i] from target and its table is tables[i], one bucket.
func handNetwork(t *testing.T, target kadID, dist []uint64, tables [][]uint32, k int) *network {
	t.Helper()
	if len(dist) != len(tables) {
		t.Fatalf("hand network: %d distances, %d tables", len(dist), len(tables))
	}
	net := &network{k: k, first: make([]uint32, len(dist)+1)}
	for i, d := range dist {
		net.ids = append(net.ids, target.xor(kadID{0, 0, 0, d}))
		net.first[i] = uint32(len(net.bounds))
		net.bounds = append(net.bounds, uint32(len(net.entries)))
		net.entries = append(net.entries, tables[i]...)
		net.bounds = append(net.bounds, uint32(len(net.entries)))
	}
	net.first[len(dist)] = uint32(len(net.bounds))
	return net
}

// Each case is small enough to follow kad-dht's query.run by hand; the
// comments give the trace.
func TestLookupByHand(t *testing.T) {
	target := kadIDOf([]byte("target"))
	type want struct {
		found, local      bool
		rpcs, hops, depth int
	}
	for _, tc := range []struct {
		name    string
		par     params
		dist    []uint64   // peer 0 is the source
		tables  [][]uint32 //
		holders []uint32
		offline []uint32
		want    want
	}{
		{
			// 0 → 1 → 2 → 3 → 4: one referral per hop.
			name:    "chain",
			par:     params{k: 20, alpha: 10, beta: 3},
			dist:    []uint64{1 << 40, 1 << 30, 1 << 20, 1 << 10, 1},
			tables:  [][]uint32{{1}, {2}, {3}, {4}, {}},
			holders: []uint32{4},
			want:    want{found: true, rpcs: 4, hops: 4, depth: 4},
		},
		{
			name:    "local",
			par:     params{k: 20, alpha: 10, beta: 3},
			dist:    []uint64{1 << 40, 1},
			tables:  [][]uint32{{1}, {}},
			holders: []uint32{0, 1},
			want:    want{found: true, local: true},
		},
		{
			// 1 and 2 are sent together; 1 is offline and fails
			// at the dial, which sends nothing.
			name:    "offline costs no RPC",
			par:     params{k: 20, alpha: 10, beta: 3},
			dist:    []uint64{1 << 40, 1, 2},
			tables:  [][]uint32{{1, 2}, {}, {}},
			holders: []uint32{2},
			offline: []uint32{1},
			want:    want{found: true, rpcs: 1, hops: 1, depth: 1},
		},
		{
			// alpha 1: 2 (nearer seed) is queried first and names
			// 1, another seed, which the tracer then takes for hop
			// 2; 1 names the holder 3, hop 3, though it is two
			// referrals from our table.
			name:    "seed named first counts deeper",
			par:     params{k: 20, alpha: 1, beta: 3},
			dist:    []uint64{1 << 40, 1 << 20, 1 << 10, 1},
			tables:  [][]uint32{{1, 2}, {3}, {1}, {}},
			holders: []uint32{3},
			want:    want{found: true, rpcs: 3, hops: 3, depth: 3},
		},
		{
			// alpha 1, beta 3: 1, 2, 3 answer nothing new, so once
			// the three nearest have replied the lookup ends with
			// the holder 4 only heard of; the follow-up round
			// queries it.
			name:    "follow-up finds it",
			par:     params{k: 20, alpha: 1, beta: 3},
			dist:    []uint64{1 << 40, 1, 2, 3, 4},
			tables:  [][]uint32{{1, 2, 3, 4}, {}, {}, {}, {}},
			holders: []uint32{4},
			want:    want{found: true, rpcs: 4, hops: 1, depth: 1},
		},
		{
			// alpha 2, beta 1: 1 and 2 are sent; 1 replies, and
			// as the nearest it ends the lookup; 2, still in
			// flight, completes and returns the provider.
			name:    "in flight at the end still answers",
			par:     params{k: 20, alpha: 2, beta: 1},
			dist:    []uint64{1 << 40, 1, 2},
			tables:  [][]uint32{{1, 2}, {}, {}},
			holders: []uint32{2},
			want:    want{found: true, rpcs: 2, hops: 1, depth: 1},
		},
		{
			// alpha 1, beta 1: 1 names 2 (hop 2); 2 names 3 (hop
			// 3), and nobody holds the record: the lookup queries
			// everyone and reports its deepest hop.
			name:   "not found",
			par:    params{k: 20, alpha: 1, beta: 1},
			dist:   []uint64{1 << 40, 1 << 20, 1 << 10, 1},
			tables: [][]uint32{{1}, {2}, {3}, {}},
			want:   want{rpcs: 3, hops: 3},
		},
		{
			// The replies name the source (0), which the responder
			// leaves out: otherwise the source would be hop 2.
			name:    "requester left out",
			par:     params{k: 1, alpha: 10, beta: 3},
			dist:    []uint64{1, 1 << 20, 1 << 10},
			tables:  [][]uint32{{1}, {0, 2}, {}},
			holders: []uint32{2},
			want:    want{found: true, rpcs: 2, hops: 2, depth: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := handNetwork(t, target, tc.dist, tc.tables, tc.par.k)
			var offline []bool
			if len(tc.offline) > 0 {
				offline = make([]bool, len(tc.dist))
				for _, p := range tc.offline {
					offline[p] = true
				}
			}
			l := newLooker(net, tc.par, offline)
			for run := range 2 { // the second run checks the looker resets
				st := l.lookup(0, target, tc.holders)
				got := want{st.Found, st.Local, st.RPCs, st.Hops, st.AnswerDepth}
				if got != tc.want {
					t.Fatalf("run %d: got %+v, want %+v", run, got, tc.want)
				}
			}
		})
	}
}

// TestLookupInvariants checks every lookup of converged networks against
// what must hold whatever the parameters.
func TestLookupInvariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		n    int
	}{
		{"k20", Config{Seed: 1, LookupsPerSize: 300, K: 20, Alpha: 10, Beta: 3}, 3000},
		{"k4", Config{Seed: 2, LookupsPerSize: 300, K: 4, Alpha: 3, Beta: 3}, 3000},
		{"k4 alpha10", Config{Seed: 2, LookupsPerSize: 300, K: 4, Alpha: 10, Beta: 1}, 3000},
		{"offline", Config{Seed: 3, LookupsPerSize: 300, K: 20, Alpha: 10, Beta: 3, Offline: 0.3}, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats, _, err := runSize(tc.cfg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for i, s := range stats {
				if s.Found {
					found++
				}
				if s.Local {
					if !s.Found || s.RPCs != 0 || s.Hops != 0 {
						t.Fatalf("lookup %d: local answer with %+v", i, s)
					}
					continue
				}
				if s.Found && (s.AnswerDepth < 1 || s.AnswerDepth > s.Hops) {
					t.Fatalf("lookup %d: answer depth %d outside 1..hops %d", i, s.AnswerDepth, s.Hops)
				}
				if s.Hops < 1 || s.Hops > s.RPCs {
					t.Fatalf("lookup %d: hops %d outside 1..RPCs %d", i, s.Hops, s.RPCs)
				}
			}
			// Converged tables always lead to the holders; with a
			// third of peers gone, 21 holders still leave nearly
			// every record reachable.
			if min := len(stats) * 95 / 100; found < min || (tc.cfg.Offline == 0 && found != len(stats)) {
				t.Errorf("found %d of %d", found, len(stats))
			}
		})
	}
}
