package node

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestConcurrentPushesToOnePeerShareBatchesAndAreHeldWithTheirMarks(t *testing.T) {
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 1, GraceDelay: time.Minute, Interval: time.Hour}
	from, to := startNode(t, withReplication(rc)), startNode(t, withReplication(rc))
	link(t, from, to)
	pollUntil(t, 10*time.Second, "identify to say the peer takes batches", func() bool { return from.client.Batches(to.ID()) })

	const pushes = 48
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cids []cid.Cid
	var wg sync.WaitGroup
	errs := make([]error, pushes)
	for i := range pushes {
		data := randomData(t, int64(i), 64<<10)
		c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = from.pushes.push(ctx, to.ID(), c, data)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	batches, blocks := from.PushBatches()
	t.Logf("%d pushes went in %d batches", pushes, batches)
	if blocks != pushes {
		t.Fatalf("the batches carried %d blocks, want %d", blocks, pushes)
	}
	if batches >= pushes {
		t.Fatalf("%d pushes went in %d batches: none were shared", pushes, batches)
	}
	// Every acknowledged block is held with its duty mark (that an
	// acknowledged batch survives a kill is
	// TestAPushedBlockAndItsDutyMarkAreDurableTogether's).
	for _, c := range cids {
		if !to.Has(c) || !to.owed(c.Hash()) {
			t.Fatalf("acknowledged push %s is not held with its duty mark", c)
		}
	}
}

// gatedClient answers batches only when released, recording what each
// batch carried.
type gatedClient struct {
	mu      sync.Mutex
	batches [][]cid.Cid
	started chan struct{} // a batch has begun
	release chan struct{} // closed: batches answer
}

func (g *gatedClient) Batches(peer.ID) bool { return true }

func (g *gatedClient) Push(context.Context, peer.ID, cid.Cid, []byte) error {
	return errors.New("a peer that takes batches is not pushed one block a stream")
}

func (g *gatedClient) PushBatch(ctx context.Context, _ peer.ID, items []exchange.PushItem) []error {
	g.mu.Lock()
	var cids []cid.Cid
	for _, it := range items {
		cids = append(cids, it.CID)
	}
	g.batches = append(g.batches, cids)
	g.mu.Unlock()
	g.started <- struct{}{}
	<-g.release
	return make([]error, len(items)) // all stored
}

func TestAPushWhoseCallerGivesUpLeavesTheQueueAndTheOthersAreStored(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	g := &gatedClient{started: make(chan struct{}, 8), release: make(chan struct{})}
	q := newPushQueue(ctx, g, func(fn func()) bool { wg.Add(1); go func() { defer wg.Done(); fn() }(); return true })
	p := peer.ID("peer")
	c := func(s string) cid.Cid {
		k, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	results := map[string]chan error{}
	push := func(ctx context.Context, name string) {
		res := make(chan error, 1)
		results[name] = res
		k := c(name)
		go func() { res <- q.push(ctx, p, k, []byte(name)) }()
	}
	// Two batches in flight hold the two senders; what comes next waits.
	// a's caller gives up while its batch travels: what the batch did
	// with a still stands.
	aCtx, giveUpA := context.WithCancel(ctx)
	push(aCtx, "a")
	<-g.started
	giveUpA()
	push(ctx, "b")
	<-g.started
	gone, giveUp := context.WithCancel(ctx)
	push(gone, "queued, then given up")
	push(ctx, "queued")
	pollUntil(t, 10*time.Second, "both to wait in the queue", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.by[p] != nil && len(q.by[p].waiting) == 2
	})
	giveUp()
	select {
	case err := <-results["queued, then given up"]:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the push given up = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a push whose caller gave up waited for the batches before it")
	}
	close(g.release)
	for _, name := range []string{"a", "b", "queued"} {
		if err := <-results[name]; err != nil {
			t.Fatalf("push %q: %v, want stored", name, err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.batches {
		for _, k := range b {
			if k == c("queued, then given up") {
				t.Fatal("the push given up was sent anyway")
			}
		}
	}
	if len(g.batches) != 3 || len(g.batches[2]) != 1 || g.batches[2][0] != c("queued") {
		t.Fatalf("batches %v, want a, b, then the one left queued", g.batches)
	}
}

// A node from before batched pushes serves only /cairn/block/1.0.0: a
// write still gets its copies there, one block a stream.
func TestAPeerThatPredatesBatchesStillTakesAWritesCopies(t *testing.T) {
	rc := ReplicationConfig{Factor: 2, WriteQuorum: 2, GraceDelay: time.Minute, Interval: time.Hour}
	from, old := startNode(t, withReplication(rc)), startNode(t, withReplication(rc))
	old.Host().RemoveStreamHandler(exchange.BatchProtocolID)
	link(t, from, old)
	pollUntil(t, 10*time.Second, "identify to tell the writer about the peer", func() bool {
		protos, err := from.Host().Peerstore().GetProtocols(old.ID())
		return err == nil && len(protos) > 0
	})
	if from.client.Batches(old.ID()) {
		t.Fatal("the writer thinks a peer without 1.1.0 takes batches")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := from.Add(ctx, bytes.NewReader(randomData(t, 9, 3<<20)), chunk.AddOptions{})
	if err != nil {
		t.Fatalf("add with W=2 and an older peer: %v", err)
	}
	for _, k := range dagKeys(t, from, res.Root) {
		if !old.Has(cid.NewCidV1(cid.Raw, k)) {
			t.Fatalf("the older peer lacks %s after a W=2 add returned", k)
		}
	}
	if batches, _ := from.PushBatches(); batches != 0 {
		t.Fatalf("%d batches went to a peer without 1.1.0", batches)
	}
}
