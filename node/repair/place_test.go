package repair

import (
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// without returns order less the peers in drop, order kept.
func without(order []peer.ID, drop ...peer.ID) []peer.ID {
	var out []peer.ID
	for _, id := range order {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

func checkPlacement(t *testing.T, got Placement, push, fallback []peer.ID) {
	t.Helper()
	if !slices.Equal(got.Push, push) {
		t.Errorf("push = %v, want %v", got.Push, push)
	}
	if !slices.Equal(got.Fallback, fallback) {
		t.Errorf("fallback = %v, want %v", got.Fallback, fallback)
	}
	if got.Need() != len(push) || !slices.Equal(got.Targets(), append(slices.Clone(push), fallback...)) {
		t.Errorf("need %d, targets %v: not the push list then the fallbacks", got.Need(), got.Targets())
	}
}

func TestPlaceTakesTheClosestEligiblePeersThenFallsBackInOrder(t *testing.T) {
	ids := peers(t, 8)
	k := key(t, "chunk")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	self := order[2] // neither first nor last, so skipping it shows
	tests := []struct {
		name     string
		full     []peer.ID
		exclude  []peer.ID
		need     int
		push     []peer.ID
		fallback []peer.ID
	}{
		{name: "nothing needed", need: 0},
		{name: "self is never a target", need: 3,
			push: without(order, self)[:3], fallback: without(order, self)[3:]},
		{name: "holders and tried peers are passed over", exclude: []peer.ID{order[0], order[3]}, need: 2,
			push: []peer.ID{order[1], order[4]}, fallback: order[5:]},
		{name: "full peers are passed over", full: []peer.ID{order[1]}, need: 1,
			push: order[:1], fallback: order[3:]},
		{name: "more needed than there are peers", exclude: order[:5], need: 4,
			push: order[5:]},
		{name: "everyone excluded", exclude: ids, need: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := network(t, ids, Config{})[self]
			for _, f := range tc.full {
				p.PeerFull(f, time.Unix(0, 0))
			}
			checkPlacement(t, p.View().Place(k, tc.exclude, tc.need), tc.push, tc.fallback)
		})
	}
}

func TestAViewStaysAsItWasWhenThePolicyMovesOn(t *testing.T) {
	ids := peers(t, 5)
	p := network(t, ids, Config{GraceDelay: time.Minute})[ids[0]]
	k := key(t, "k")
	v := p.View()
	if p.View() != v {
		t.Fatal("an unchanged policy built a new view")
	}
	before := v.Closest(k, 5)
	// Two peers other than self (which is never marked full or gone).
	others := without(before, ids[0])
	full, gone := others[0], others[1]
	p.PeerFull(full, time.Unix(0, 0))
	p.PeerDown(gone, time.Unix(0, 0))
	if got := v.Closest(k, 5); !slices.Equal(got, before) || v.Live() != 5 {
		t.Fatalf("the published view changed under its readers: %v, was %v", got, before)
	}
	if got := p.View().Closest(k, 5); !slices.Equal(got, without(before, full, gone)) {
		t.Fatalf("the new view = %v, want %v less the full and the gone peer", got, before)
	}
	if p.View().Live() != 4 {
		t.Fatalf("the new view counts %d live, want 4 (the full peer is live)", p.View().Live())
	}
}

func TestDecideNamesTargetsAndFallbacksOnlyForTheRepairer(t *testing.T) {
	ids := peers(t, 7)
	k := key(t, "chunk")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	pair := []peer.ID{order[1], order[4]}
	pick := Repairer(k, pair)
	other := pair[0]
	if pick == other {
		other = pair[1]
	}
	tests := []struct {
		name     string
		self     peer.ID
		holders  []peer.ID
		down     []peer.ID // gone since the holders were probed
		full     []peer.ID
		live     int
		push     []peer.ID
		fallback []peer.ID
	}{
		{name: "healthy", self: order[0], holders: order[:3], live: 3},
		{name: "the live holder Repairer picks repairs", self: pick, holders: pair, live: 2,
			push: order[:1], fallback: without(order, order[1], order[4])[1:]},
		{name: "the other holder leaves it alone", self: other, holders: pair, live: 2},
		{name: "a dead closer holder hands the repair on", self: order[4], holders: []peer.ID{order[1], order[4]},
			down: order[1:2], live: 1, push: []peer.ID{order[0], order[2]}, fallback: []peer.ID{order[3], order[5], order[6]}},
		{name: "full peers are neither targets nor fallbacks", self: order[3], holders: order[3:4], full: order[:2], live: 1,
			push: []peer.ID{order[2], order[4]}, fallback: order[5:]},
		{name: "not held anywhere live", self: order[0], holders: order[5:6], down: order[5:6]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := network(t, ids, Config{Factor: 3, GraceDelay: time.Minute})[tc.self]
			for _, id := range tc.down {
				p.PeerDown(id, time.Unix(0, 0))
			}
			for _, id := range tc.full {
				p.PeerFull(id, time.Unix(0, 0))
			}
			d := p.Decide(k, tc.holders, false)
			if d.Live != tc.live || d.Drop {
				t.Errorf("live %d drop %v, want live %d and no drop", d.Live, d.Drop, tc.live)
			}
			checkPlacement(t, d.Placement, tc.push, tc.fallback)
		})
	}
}
