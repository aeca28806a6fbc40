package repair

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

func peers(t *testing.T, n int) []peer.ID {
	t.Helper()
	out := make([]peer.ID, n)
	for i := range out {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out[i], _ = peer.IDFromPublicKey(pub)
	}
	return out
}

func key(t *testing.T, s string) mh.Multihash {
	t.Helper()
	m, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// network is one Policy per peer, all seeing the same live set.
func network(t *testing.T, ids []peer.ID, cfg Config) map[peer.ID]*Policy {
	t.Helper()
	out := map[peer.ID]*Policy{}
	for _, self := range ids {
		c := cfg
		c.Self = self
		p, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range ids {
			p.PeerUp(other)
		}
		out[self] = p
	}
	return out
}

func TestClosestFollowsKadDHTDistance(t *testing.T) {
	ids := peers(t, 12)
	p := network(t, ids, Config{})[ids[0]]
	k := key(t, "chunk")
	want := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))[:3]
	if got := p.Closest(k, 3); !slices.Equal(got, want) {
		t.Fatalf("closest = %v, kbucket says %v", got, want)
	}
	p.PeerFull(want[0], time.Unix(0, 0))
	if got := p.Closest(k, 3); slices.Contains(got, want[0]) {
		t.Fatal("a full peer is still a placement target")
	}
}

func TestOnlyTheClosestLiveHolderRepairsAndItFillsUpToR(t *testing.T) {
	ids := peers(t, 10)
	net := network(t, ids, Config{Factor: 3})
	for i := 0; i < 20; i++ {
		k := key(t, fmt.Sprintf("chunk %d", i))
		order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
		holders := []peer.ID{order[4]} // one copy left, on the fifth closest
		pushers := 0
		for id, p := range net {
			d := p.Decide(k, holders, false)
			if d.Drop {
				t.Fatalf("%s would drop an under-replicated chunk", id)
			}
			if d.Help.Need() != 0 {
				t.Fatalf("%s would help with a chunk it does not hold (its only holder repairs it)", id)
			}
			if len(d.Push) == 0 {
				continue
			}
			pushers++
			if id != order[4] {
				t.Fatalf("%s is not a holder but pushes", id)
			}
			if !slices.Equal(d.Push, order[:2]) {
				t.Fatalf("pushes to %v, want the two closest non-holders %v", d.Push, order[:2])
			}
		}
		if pushers != 1 {
			t.Fatalf("%d nodes decided to repair, want exactly one", pushers)
		}
	}
}

func TestFarthestHoldersDropSurplusCopiesUnlessPinned(t *testing.T) {
	ids := peers(t, 10)
	net := network(t, ids, Config{Factor: 3, Slack: 2})
	k := key(t, "popular")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	holders := order[:8]
	var drops []peer.ID
	for _, id := range holders {
		if net[id].Decide(k, holders, false).Drop {
			drops = append(drops, id)
		}
	}
	if !slices.Equal(kb.SortClosestPeers(drops, kb.ConvertKey(string(k))), order[5:8]) {
		t.Fatalf("dropping %v, want the three farthest holders %v", drops, order[5:8])
	}
	if net[order[7]].Decide(k, holders, true).Drop {
		t.Fatal("a pinned copy would be dropped")
	}
	if net[order[0]].Decide(k, order[:5], false).Drop {
		t.Fatal("R+Slack copies are not a surplus")
	}
}

func TestDeadHoldersDoNotCount(t *testing.T) {
	ids := peers(t, 6)
	net := network(t, ids, Config{Factor: 3, GraceDelay: time.Minute})
	k := key(t, "k")
	order := kb.SortClosestPeers(slices.Clone(ids), kb.ConvertKey(string(k)))
	holders := order[:3]
	for _, h := range holders {
		if d := net[h].Decide(k, holders, false); d.Live != 3 || len(d.Push) != 0 || d.Help.Need() != 0 {
			t.Fatalf("healthy chunk, seen from %s: %+v", h, d)
		}
	}
	// The survivors both see the death; the one rendezvous hashing elects
	// repairs, the other leaves it alone.
	survivors := []peer.ID{order[0], order[2]}
	repairer := Repairer(k, survivors)
	for _, h := range survivors {
		net[h].PeerDown(order[1], time.Unix(100, 0))
		d := net[h].Decide(k, holders, false)
		if d.Live != 2 {
			t.Fatalf("%s counts %d live holders after one died, want 2", h, d.Live)
		}
		switch {
		case h == repairer && !slices.Equal(d.Push, order[3:4]):
			t.Fatalf("the elected repairer plans %+v, want a push to %s", d, order[3])
		case h == repairer && d.Help.Need() != 0:
			t.Fatalf("the elected repairer is also told to help: %+v", d.Help)
		case h != repairer && len(d.Push) != 0:
			t.Fatalf("%s is not the elected repairer but pushes to %v", h, d.Push)
		case h != repairer && !slices.Equal(d.Help.Push, order[3:4]):
			// The other survivor may help, towards the same target, so
			// that a copy the elected one made already is seen there.
			t.Fatalf("%s may help with %+v, want the elected repairer's target %s", h, d.Help, order[3])
		}
	}
}

func TestAPeerBackWithinTheGraceDelayTriggersNoWalk(t *testing.T) {
	ids := peers(t, 4)
	p := network(t, ids, Config{GraceDelay: time.Minute, Interval: time.Hour})[ids[0]]
	start := time.Unix(940, 0)
	if p.Tick(start) {
		t.Fatal("a node just started walked before its peers had a grace delay to reconnect")
	}
	t0 := start.Add(time.Minute)
	if !p.Tick(t0) {
		t.Fatal("no initial walk once the grace delay after start had passed")
	}
	p.PeerDown(ids[1], t0)
	if p.Tick(t0.Add(30 * time.Second)) {
		t.Fatal("walk within the grace delay")
	}
	p.PeerUp(ids[1])
	if p.Tick(t0.Add(2 * time.Minute)) {
		t.Fatal("walk for a peer that came back")
	}
	p.PeerDown(ids[2], t0.Add(3*time.Minute))
	if p.Tick(t0.Add(3*time.Minute + 59*time.Second)) {
		t.Fatal("walk before the grace delay ran out")
	}
	if !p.Tick(t0.Add(4 * time.Minute)) {
		t.Fatal("no walk once the grace delay ran out")
	}
	p.PeerLeft(ids[3])
	if p.Tick(t0.Add(10 * time.Minute)) {
		t.Fatal("walk for a peer that left cleanly")
	}
	// A walk that falls due while another peer is within its grace delay
	// waits for that delay to run out.
	p.RequestWalk()
	p.PeerDown(ids[1], t0.Add(20*time.Minute))
	if p.Tick(t0.Add(20*time.Minute + 10*time.Second)) {
		t.Fatal("walk while a peer was within its grace delay")
	}
	if !p.Tick(t0.Add(21 * time.Minute)) {
		t.Fatal("the postponed walk did not run once the grace delay ran out")
	}
	if !p.Tick(t0.Add(21*time.Minute + time.Hour)) {
		t.Fatal("no periodic walk")
	}
}

func TestQueueServesMostEndangeredFirst(t *testing.T) {
	var q Queue
	q.Push(key(t, "a"), 2)
	q.Push(key(t, "b"), 0)
	q.Push(key(t, "c"), 1)
	q.Push(key(t, "d"), 2)
	q.Push(key(t, "a"), 1) // re-queued more endangered: moves up, keeps its place in line
	var got []int
	var keys []string
	for {
		k, live, ok := q.Pop()
		if !ok {
			break
		}
		got = append(got, live)
		keys = append(keys, k.B58String())
	}
	if fmt.Sprint(got) != "[0 1 1 2]" || keys[1] != key(t, "a").B58String() || keys[2] != key(t, "c").B58String() {
		t.Fatalf("popped %v %v", got, keys)
	}
}

func TestBudgetSpacesTrafficAtItsRate(t *testing.T) {
	b := NewBudget(1000, 1000) // 1000 B/s, 1000 B burst
	t0 := time.Unix(0, 0)
	if w := b.Take(1000, t0); w != 0 {
		t.Fatalf("burst: wait %v", w)
	}
	if w := b.Take(500, t0); w != 500*time.Millisecond {
		t.Fatalf("over the burst: wait %v, want 500ms", w)
	}
	if w := b.Take(500, t0.Add(time.Second)); w != 0 {
		t.Fatalf("after a second: wait %v", w)
	}
	if w := NewBudget(0, 0).Take(1<<30, t0); w != 0 {
		t.Fatal("an unlimited budget made the caller wait")
	}
}

func TestRepairsOfChunksWithTheSameHoldersSpreadOverThem(t *testing.T) {
	ids := peers(t, 3)
	count := map[peer.ID]int{}
	for i := 0; i < 3000; i++ {
		k := key(t, fmt.Sprintf("chunk %d", i))
		r := Repairer(k, ids)
		if back := Repairer(k, []peer.ID{ids[2], ids[0], ids[1]}); back != r {
			t.Fatalf("the holders' order changed the repairer: %s, then %s", r, back)
		}
		count[r]++
	}
	for _, id := range ids {
		if count[id] < 800 || count[id] > 1200 {
			t.Fatalf("repairs of 3,000 chunks held by the same 3 peers: %v; want about 1,000 each", count)
		}
	}
}
