package repair

import (
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestADistrustedPeerIsNeitherPlacedOnNorCountedUntilItsTimeIsUp(t *testing.T) {
	ids := peers(t, 8)
	k := key(t, "chunk")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	self, liar := order[3], order[0]
	p := network(t, ids, Config{Factor: 3, DistrustFor: time.Hour})[self]
	t0 := time.Unix(1000, 0)
	p.Tick(t0)

	// The liar and two others claim the chunk: with self that is 4 >= R.
	holders := []peer.ID{self, liar, order[1], order[2]}
	if d := p.Decide(k, holders, false); d.Live != 4 {
		t.Fatalf("before the failure %d live, want 4", d.Live)
	}
	p.PeerFailed(liar, t0)
	p.PeerProved(liar, t0) // one good answer does not undo a lie
	if !p.Distrusted(liar) || !p.View().Distrusted(liar) {
		t.Fatal("the liar is not distrusted")
	}
	if d := p.Decide(k, holders, false); d.Live != 3 {
		t.Fatalf("after the failure %d live, want 3 (the liar's claim must not count)", d.Live)
	}
	if got := p.Closest(k, len(ids)); slices.Contains(got, liar) {
		t.Fatal("a distrusted peer is still a placement target")
	}
	if pl := p.View().Place(k, nil, 3); slices.Contains(pl.Targets(), liar) {
		t.Fatal("a distrusted peer is in a placement")
	}
	p.Tick(t0.Add(time.Hour))
	if p.Distrusted(liar) {
		t.Fatal("still distrusted after DistrustFor")
	}
	if got := p.Closest(k, 1); !slices.Equal(got, []peer.ID{liar}) {
		t.Fatalf("closest after the distrust ran out = %v, want the old liar back", got)
	}
}

func TestOnlyVouchedPeersTakePlacesInAdmission(t *testing.T) {
	ids := peers(t, 10)
	k := key(t, "chunk")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	self := order[6]
	p := network(t, ids, Config{Factor: 3, DistrustFor: time.Hour})[self]
	t0 := time.Unix(1000, 0)
	if !p.View().Keeps(k, 5) {
		t.Fatal("a node that vouched for nobody must keep what it is pushed")
	}
	for _, id := range order[:4] {
		p.PeerProved(id, t0)
	}
	if !p.View().Keeps(k, 5) {
		t.Fatal("four vouched peers are closer: self is fifth and must keep it")
	}
	p.PeerProved(order[5], t0)
	if p.View().Keeps(k, 5) {
		t.Fatal("five vouched peers are closer: self is sixth and must not keep it")
	}
	p.PeerFailed(order[0], t0)
	if !p.View().Keeps(k, 5) {
		t.Fatal("a distrusted peer must not take a place")
	}
	p.PeerFull(order[1], t0)
	p.PeerProved(order[7], t0) // farther than self: changes nothing
	if !p.View().Keeps(k, 4) {
		t.Fatal("a full peer must not take a place")
	}
	p.Tick(t0.Add(2 * time.Hour)) // vouches run out
	if !p.View().Keeps(k, 1) {
		t.Fatal("vouches did not run out")
	}
}
