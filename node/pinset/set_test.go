package pinset

import (
	"context"
	"errors"
	"fmt"
	dag "github.com/ipfs/boxo/ipld/merkledag"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pb "github.com/ipfs/go-ds-crdt/pb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
)

// memBlocks keeps delta blocks in memory for these tests (the node keeps
// them in a chunk store and fetches them through its exchange).
type memBlocks struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlocks) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[c.KeyString()]
	if !ok {
		return nil, errors.New("not found")
	}
	return d, nil
}

func (b *memBlocks) Has(c cid.Cid) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.m[c.KeyString()]
	return ok, nil
}

func (b *memBlocks) Put(c cid.Cid, d []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[c.KeyString()] = append([]byte(nil), d...)
	return nil
}

type cluster struct {
	hosts  []host.Host
	sets   []*Set
	blocks map[peer.ID]*memBlocks
}

// newCluster starts n connected sets on mocknet; fetches read the named
// peers' block maps and check the hash, as the exchange would.
func newCluster(t *testing.T, n int, writers func([]host.Host) []peer.ID) *cluster {
	t.Helper()
	return newClusterOn(t, n, writers, func(int) ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) })
}

// newClusterOn is newCluster with set i's state kept in store(i).
func newClusterOn(t *testing.T, n int, writers func([]host.Host) []peer.ID, store func(i int) ds.Batching) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	cl := &cluster{blocks: map[peer.ID]*memBlocks{}}
	for range n {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		cl.hosts = append(cl.hosts, h)
		cl.blocks[h.ID()] = &memBlocks{m: map[string][]byte{}}
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	fetch := func(ctx context.Context, c cid.Cid, from []peer.ID) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range from {
			if d, err := cl.blocks[p].Get(ctx, c); err == nil {
				if got, _ := c.Prefix().Sum(d); !got.Equals(c) {
					return nil, errors.New("hash mismatch")
				}
				return d, nil
			}
		}
		return nil, fmt.Errorf("%s: no peer has it", c)
	}
	var ws []peer.ID
	if writers != nil {
		ws = writers(cl.hosts)
	}
	for i, h := range cl.hosts {
		ps, err := pubsub.NewGossipSub(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{Host: h, PubSub: ps, Datastore: store(i),
			Blocks: cl.blocks[h.ID()], Fetch: fetch, RebroadcastInterval: 200 * time.Millisecond,
			Writers: ws, AckTimeout: time.Second, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		cl.sets = append(cl.sets, s)
	}
	t.Cleanup(func() {
		for _, s := range cl.sets {
			s.Close()
		}
		cancel()
	})
	return cl
}

func testCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(t *testing.T, s *Set, c cid.Cid) bool {
	t.Helper()
	ok, err := s.Has(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestAPinMadeOnOneNodeReachesEveryNodeAndAnUnpinToo(t *testing.T) {
	cl := newCluster(t, 4, nil)
	ctx := context.Background()
	root := testCID(t, "a")
	at := time.Unix(1700000000, 5).UTC()
	want := Pin{Root: root, Name: "photos", Replicas: 4, By: cl.hosts[0].ID(), At: at, Bytes: 1234}
	if err := cl.sets[0].Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	for i, s := range cl.sets {
		waitFor(t, 10*time.Second, fmt.Sprintf("set %d has the pin", i), func() bool { return has(t, s, root) })
		got, err := s.Get(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("set %d: got %+v, want %+v", i, got, want)
		}
	}
	if err := cl.sets[3].Remove(ctx, root); err != nil {
		t.Fatal(err)
	}
	for i, s := range cl.sets {
		waitFor(t, 10*time.Second, fmt.Sprintf("set %d lost the pin", i), func() bool { return !has(t, s, root) })
	}
	if err := cl.sets[1].Remove(ctx, root); !errors.Is(err, ErrNotPinned) {
		t.Errorf("removing an absent pin: %v, want ErrNotPinned", err)
	}
}

func TestConfirmReturnsOnceThePeerHoldsTheEntry(t *testing.T) {
	cl := newCluster(t, 2, nil)
	ctx := context.Background()
	root := testCID(t, "confirm")
	if err := cl.sets[0].Add(ctx, Pin{Root: root}); err != nil {
		t.Fatal(err)
	}
	if err := cl.sets[0].Confirm(ctx, cl.hosts[1].ID(), root); err != nil {
		t.Fatal(err)
	}
	// Confirm returned: the peer holds it now, not eventually.
	if !has(t, cl.sets[1], root) {
		t.Fatal("confirmed, but the peer does not hold the entry")
	}
	// Many roots at once, as a CAR import of several roots asks.
	var many []Pin
	var roots []cid.Cid
	for i := range 5 {
		r := testCID(t, fmt.Sprint("many", i))
		many = append(many, Pin{Root: r})
		roots = append(roots, r)
	}
	if err := cl.sets[0].AddMany(ctx, many); err != nil {
		t.Fatal(err)
	}
	if err := cl.sets[0].Confirm(ctx, cl.hosts[1].ID(), roots...); err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		if !has(t, cl.sets[1], r) {
			t.Fatalf("confirmed, but the peer does not hold %s", r)
		}
	}
	if err := cl.sets[0].Confirm(ctx, cl.hosts[1].ID(), testCID(t, "never added")); !errors.Is(err, ErrNotHeld) {
		t.Errorf("confirm of an entry nobody added: %v, want ErrNotHeld", err)
	}
}

func TestOnlyWritersChangeTheSetWhenWritersAreListed(t *testing.T) {
	cl := newCluster(t, 3, func(hs []host.Host) []peer.ID { return []peer.ID{hs[0].ID()} })
	ctx := context.Background()
	byWriter, byOther := testCID(t, "writer"), testCID(t, "other")
	if err := cl.sets[2].Add(ctx, Pin{Root: byOther}); err != nil {
		t.Fatal(err) // accepted locally: the others refuse it
	}
	if err := cl.sets[2].Confirm(ctx, cl.hosts[1].ID(), byOther); err == nil {
		t.Error("a peer confirmed a pin by a node that is not a writer")
	}
	if err := cl.sets[0].Add(ctx, Pin{Root: byWriter}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the writer's pin reaches set 1", func() bool { return has(t, cl.sets[1], byWriter) })
	if has(t, cl.sets[1], byOther) {
		t.Error("set 1 took a pin from a node that is not a writer")
	}
}

func deltaBlock(t *testing.T, d *pb.Delta) (cid.Cid, []byte) {
	t.Helper()
	nd, err := makeTestNode(d)
	if err != nil {
		t.Fatal(err)
	}
	return nd.Cid(), nd.RawData()
}

func TestDecodeDeltaRefusesWhatThisPackageWouldNotWrite(t *testing.T) {
	good := testCID(t, "g")
	okVal := []byte(`{"at":1,"bytes":2}`)
	tests := []struct {
		name  string
		delta *pb.Delta
	}{
		{"key not a CID", &pb.Delta{Elements: []*pb.Element{{Key: "/nonsense", Value: okVal}}}},
		{"key with a path", &pb.Delta{Elements: []*pb.Element{{Key: "/" + good.String() + "/x", Value: okVal}}}},
		{"value not JSON", &pb.Delta{Elements: []*pb.Element{{Key: key(good), Value: []byte("{")}}}},
		{"unknown field", &pb.Delta{Elements: []*pb.Element{{Key: key(good), Value: []byte(`{"evil":1}`)}}}},
		{"value too large", &pb.Delta{Elements: []*pb.Element{{Key: key(good), Value: make([]byte, maxValue+1)}}}},
		{"bad pinner", &pb.Delta{Elements: []*pb.Element{{Key: key(good), Value: []byte(`{"by":"me"}`)}}}},
		{"tombstone key not a CID", &pb.Delta{Tombstones: []*pb.Element{{Key: "/x"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, data := deltaBlock(t, tc.delta)
			if _, err := decodeDelta(c, data); !errors.Is(err, ErrBadDelta) {
				t.Errorf("decodeDelta: %v, want ErrBadDelta", err)
			}
		})
	}
	c, data := deltaBlock(t, &pb.Delta{Elements: []*pb.Element{{Key: key(good), Value: okVal}}, Priority: 3})
	if _, err := decodeDelta(c, data); err != nil {
		t.Errorf("a well-formed delta: %v", err)
	}
	if _, err := decodeDelta(cid.NewCidV1(cid.Raw, c.Hash()), data); !errors.Is(err, ErrBadDelta) {
		t.Errorf("a raw CID: %v, want ErrBadDelta", err)
	}
	if _, err := decodeDelta(c, make([]byte, MaxDelta+1)); !errors.Is(err, ErrBadDelta) {
		t.Errorf("an oversized block: %v, want ErrBadDelta", err)
	}
}

func TestAHostileAnnouncementOrDeltaLeavesTheSetUnchanged(t *testing.T) {
	cl := newCluster(t, 2, nil)
	ctx := context.Background()
	before := testCID(t, "before")
	if err := cl.sets[0].Add(ctx, Pin{Root: before}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "set 1 has the first pin", func() bool { return has(t, cl.sets[1], before) })
	// A delta whose element is garbage, announced by node 0: node 1
	// fetches it, refuses it, and merges nothing of it.
	bad := testCID(t, "bad")
	c, data := deltaBlock(t, &pb.Delta{Elements: []*pb.Element{{Key: key(bad), Value: []byte("garbage")}}, Priority: 99})
	cl.blocks[cl.hosts[0].ID()].Put(c, data)
	ann, err := encodeHeads([]cid.Cid{c})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.sets[0].bc.Broadcast(ctx, ann); err != nil {
		t.Fatal(err)
	}
	// Malformed announcements are dropped by the topic validator.
	for _, junk := range [][]byte{[]byte("junk"), make([]byte, maxAnnounce+1)} {
		if err := cl.sets[0].bc.Broadcast(ctx, junk); err == nil {
			t.Errorf("a malformed announcement of %d bytes was published", len(junk))
		}
	}
	// A later good pin still arrives: the bad branch held nothing up.
	after := testCID(t, "after")
	if err := cl.sets[0].Add(ctx, Pin{Root: after}); err != nil {
		t.Fatal(err)
	}
	if err := cl.sets[0].Confirm(ctx, cl.hosts[1].ID(), after); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := cl.sets[1].List(ctx, func(p Pin) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2 || has(t, cl.sets[1], bad) {
		t.Errorf("set 1 lists %d pins (bad one present: %v), want the 2 good ones", n, has(t, cl.sets[1], bad))
	}
	if _, err := cl.blocks[cl.hosts[1].ID()].Get(ctx, c); err == nil {
		t.Error("set 1 kept the bad delta block")
	}
}

// makeTestNode builds a delta block as go-ds-crdt does.
func makeTestNode(d *pb.Delta) (interface {
	Cid() cid.Cid
	RawData() []byte
}, error) {
	data, err := proto.Marshal(d)
	if err != nil {
		return nil, err
	}
	return wrapDelta(data)
}

// wrapDelta wraps delta bytes in a dag-pb block as go-ds-crdt does.
func wrapDelta(data []byte) (*dag.ProtoNode, error) {
	nd := dag.NodeWithData(data)
	if err := nd.SetCidBuilder(dag.V1CidPrefix()); err != nil {
		return nil, err
	}
	return nd, nil
}
