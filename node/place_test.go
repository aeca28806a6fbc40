package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// newUnstarted builds a node as startNode does but leaves it unstarted.
func newUnstarted(t *testing.T, opts ...nodeOpt) *Node {
	t.Helper()
	return openNodeWith(t, t.TempDir(), store.Options{}, opts...)
}

// waitLive polls until n's placement view counts want live peers.
func waitLive(t *testing.T, n *Node, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.rep.placement().Live() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s counts %d live peers, want %d", n.ID(), n.rep.placement().Live(), want)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func TestARepairMovesToTheFallbackWhenItsFirstTargetRefuses(t *testing.T) {
	rc := fastRepair
	rc.Interval = time.Hour // one walk only: the first must use the fallback
	holder := newUnstarted(t, withReplication(rc))
	full := startNodeWith(t, t.TempDir(), store.Options{Capacity: 1}, withReplication(rc))
	b := startNode(t, withReplication(rc))
	c := startNode(t, withReplication(rc))
	// A block whose closest peer besides its holder is the full node, so
	// the repair's first choice refuses: of R=3 copies the holder needs
	// two more, and only the fallback makes the second.
	var data []byte
	var key mh.Multihash
	for seed := int64(500); key == nil; seed++ {
		data = randomData(t, seed, 4096)
		sum, err := mh.Sum(data, mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		if kb.SortClosestPeers([]peer.ID{full.ID(), b.ID(), c.ID()}, kb.ConvertKey(string(sum)))[0] == full.ID() {
			key = sum
		}
	}
	// Stored as a pushed replica, not by Add, so no write path copies it:
	// only repair does.
	if err := holder.storeReplica(cid.NewCidV1(cid.Raw, key), data); err != nil {
		t.Fatal(err)
	}
	all := []*Node{holder, full, b, c}
	for i, x := range all {
		for _, y := range all[i+1:] {
			link(t, x, y)
		}
	}
	// Started once it sees every peer, so its first walk, a grace delay
	// later, has them all to place on.
	waitLive(t, holder, len(all))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := holder.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitCopies(t, all, []file{{keys: []mh.Multihash{key}}}, 3, 3, 30*time.Second)
	for _, n := range []*Node{b, c} {
		if ok, _ := n.Store().Has(cid.NewCidV1(cid.Raw, key)); !ok {
			t.Fatalf("%s, a fallback, did not get the copy", n.ID())
		}
	}
	if st := full.Store().Stats(); st.Blocks != 0 {
		t.Fatalf("the full node took %d blocks", st.Blocks)
	}
	// The copies land before the walk counts them: poll for the count.
	deadline := time.Now().Add(10 * time.Second)
	for holder.RepairStats().Pushes != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the holder made %d repair copies, want 2", holder.RepairStats().Pushes)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if w := holder.RepairStats().Walks; w != 1 {
		t.Fatalf("%d walks ran; the repair must complete in the first", w)
	}
}

func TestAddBeforeStartPlacesCopiesPastARefusal(t *testing.T) {
	rc := fastRepair
	rc.WriteQuorum = 3
	adder := newUnstarted(t, withReplication(rc))
	full := startNodeWith(t, t.TempDir(), store.Options{Capacity: 1}, withReplication(rc))
	others := []*Node{startNode(t, withReplication(rc)), startNode(t, withReplication(rc))}
	for _, n := range append(others, full) {
		link(t, adder, n)
	}
	// The view comes from the run loop, which runs from New on.
	waitLive(t, adder, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adder.Add(ctx, bytes.NewReader(randomData(t, 600, 600_000)), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copies != 3 {
		t.Fatalf("add before start reached %d copies, want 3 (the two peers with room and itself)", res.Copies)
	}
	if st := full.Store().Stats(); st.Blocks != 0 {
		t.Fatalf("the full node took %d blocks", st.Blocks)
	}
}
