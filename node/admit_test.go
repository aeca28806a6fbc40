package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

func TestAPeerPushingUnsolicitedBlocksIsToldUnwantedAndFillsLessThanItsQuota(t *testing.T) {
	const quota = 1 << 20
	rc := fastRepair
	rc.PeerQuota = quota
	nodes := cluster(t, 7, rc)
	target := nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The target vouches for its peers as they prove the copies it
	// pushes them: then they, not strangers, take the places near a block.
	vouchedAll := func() bool {
		v := target.rep.placement()
		for _, n := range nodes[1:] {
			if !v.Vouched(n.ID()) {
				return false
			}
		}
		return true
	}
	for i := 0; i < 20 && !vouchedAll(); i++ {
		if _, err := target.Add(ctx, bytes.NewReader(randomData(t, int64(i), 2<<20)), chunk.AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, 10*time.Second, "the target to vouch for all six peers", vouchedAll)

	// A stranger pushes 64 blocks of 64 KiB (4 MiB, four times its quota).
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	cl := exchange.NewClient(h)
	codes := map[string]int{}
	var stored int64
	for i := 0; i < 64; i++ {
		data := randomData(t, int64(1000+i), 64<<10)
		c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Push(ctx, target.ID(), c, data)
		var ref *exchange.RefusedError
		switch {
		case err == nil:
			codes["stored"]++
		case errors.As(err, &ref):
			codes[ref.Code.String()]++
		default:
			t.Fatal(err)
		}
		if target.Has(c) {
			stored += int64(len(data))
		}
	}
	t.Logf("answers to 64 unsolicited pushes: %v; %d bytes kept", codes, stored)
	if codes["unwanted"] == 0 {
		t.Fatal("no push was answered unwanted")
	}
	if codes["busy"] == 0 {
		t.Fatal("the quota never stopped a push: the test pushed too little to show it")
	}
	if stored >= quota {
		t.Fatalf("the target kept %d bytes of unsolicited pushes, quota %d", stored, quota)
	}
	if got := target.rep.admit.unclaimed(h.ID()); got != stored {
		t.Fatalf("ledger says %d unclaimed bytes, the store holds %d", got, stored)
	}
}

func TestAdmissionRateAndQuotaPerPeer(t *testing.T) {
	claimed := map[string]bool{}
	a := newAdmission(105<<10, 1<<20, func(k mh.Multihash) bool { return claimed[string(k)] })
	t0 := time.Unix(1000, 0)
	p, q := peer.ID("p"), peer.ID("q")
	for i := 0; i < 10; i++ {
		if why := a.reserve(p, 10<<10, t0); why != "" {
			t.Fatalf("push %d within the quota refused: %s", i, why)
		}
		a.charge(p, []byte{byte(i)}, 10<<10)
	}
	if why := a.reserve(p, 10<<10, t0.Add(2*time.Second)); why != overQuota {
		t.Fatalf("a push past the quota got %q", why)
	}
	if why := a.reserve(q, 10<<10, t0); why != "" {
		t.Fatalf("another peer's quota is its own: %q", why)
	}
	claimed[string([]byte{3})] = true // a pin reached one block
	if why := a.reserve(p, 10<<10, t0.Add(4*time.Second)); why != "" {
		t.Fatalf("a claimed block still counts against the quota: %q", why)
	}
	if why := a.reserve(q, 2<<20, t0); why != overRate {
		t.Fatalf("2 MiB at once from a peer allowed 1 MiB/s got %q", why)
	}
}

// strangerClient is an exchange client on a fresh host connected to n.
func strangerClient(t *testing.T, n *Node) *exchange.Client {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	return exchange.NewClient(h)
}

func TestAPushUnderAnIdentityCIDIsRefusedAndKeepsNothing(t *testing.T) {
	n := startNode(t)
	cl := strangerClient(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := n.Stats()
	for i := range 20 {
		data := []byte(fmt.Sprint("inline ", i))
		h, err := mh.Sum(data, mh.IDENTITY, -1)
		if err != nil {
			t.Fatal(err)
		}
		c := cid.NewCidV1(cid.Raw, h)
		var ref *exchange.RefusedError
		if err := cl.Push(ctx, n.ID(), c, data); !errors.As(err, &ref) || ref.Code != exchange.RefuseInvalid {
			t.Fatalf("push %d under an identity CID: %v, want refused as invalid", i, err)
		}
		if n.isDuty(h) {
			t.Fatalf("push %d under an identity CID left a duty mark", i)
		}
	}
	if after := n.Stats(); after.Blocks != before.Blocks || after.SegmentBytes != before.SegmentBytes {
		t.Fatalf("identity pushes changed the store: %+v, before %+v", after, before)
	}
}

func TestANodeAtCapacityTakesAPushOfABlockItHolds(t *testing.T) {
	dir := t.TempDir()
	data := randomData(t, 7, 64<<10)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, dir, store.Options{})
	if err := n.Store().PutHashed(c, data); err != nil {
		t.Fatal(err)
	}
	if err := n.Sync(); err != nil {
		t.Fatal(err)
	}
	full := n.Stats().SegmentBytes
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened with no byte to spare: the block is there, its mark is not.
	n = startNodeWith(t, dir, store.Options{Capacity: full})
	other := randomData(t, 8, 1024)
	oc, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, other)
	if err := n.Store().PutHashed(oc, other); !errors.Is(err, store.ErrFull) {
		t.Fatalf("a new block on the full store: %v, want full: the test checks nothing", err)
	}
	cl := strangerClient(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.Push(ctx, n.ID(), c, data); err != nil {
		t.Fatalf("push of a block the full node holds: %v, want stored", err)
	}
	if !n.isDuty(c.Hash()) {
		t.Fatal("the held block took no duty mark")
	}
}

// A pushed block is readable from its write, but peers are told of it
// (HAVE, PROVE) only once it is committed: one that counted it earlier
// would count a copy a crash before the commit loses.
func TestABlockPushedButNotYetCommittedIsNotClaimedToPeers(t *testing.T) {
	n := startNode(t)
	written, release := make(chan struct{}), make(chan struct{})
	testHookReplicaWritten = func() { close(written); <-release }
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	pusher, asker := strangerClient(t, n), strangerClient(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := randomData(t, 9, 64<<10)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- pusher.Push(ctx, n.ID(), c, data) }()
	<-written
	testHookReplicaWritten = nil // read already: the hook is running
	if !n.Has(c) {
		t.Fatal("the written block is not held here: the test checks nothing")
	}
	nonce := make([]byte, exchange.NonceSize)
	claimed := func() (bool, bool) {
		t.Helper()
		have, err := asker.Have(ctx, n.ID(), []cid.Cid{c})
		if err != nil {
			t.Fatal(err)
		}
		proofs, err := asker.Prove(ctx, n.ID(), nonce, []cid.Cid{c})
		if err != nil {
			t.Fatal(err)
		}
		if exchange.Held(proofs[0]) && proofs[0] != exchange.Proof(nonce, data) {
			t.Fatal("a wrong proof")
		}
		return have[0], exchange.Held(proofs[0])
	}
	if have, proved := claimed(); have || proved {
		t.Fatalf("before its commit the block was claimed to a peer: have %v, proof %v", have, proved)
	}
	close(release)
	if err := <-pushed; err != nil {
		t.Fatalf("push: %v", err)
	}
	if have, proved := claimed(); !have || !proved {
		t.Fatalf("once committed the block is not claimed: have %v, proof %v", have, proved)
	}
}
