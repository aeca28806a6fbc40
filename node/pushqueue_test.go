package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

func TestConcurrentPushesToOnePeerShareBatchesAndAllBecomeDurable(t *testing.T) {
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 1, GraceDelay: time.Minute, Interval: time.Hour}
	dir := t.TempDir()
	from, to := startNode(t, withReplication(rc)), startNodeAt(t, dir, withReplication(rc))
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
	batches := from.pushes.batches.Load()
	t.Logf("%d pushes went in %d batches", pushes, batches)
	if batches >= pushes {
		t.Fatalf("%d pushes went in %d batches: none were shared", pushes, batches)
	}
	// Acknowledged means durable: the blocks and their duty marks are
	// there after the receiver closes and opens its store again.
	to.Close()
	reopened := startNodeAt(t, dir, withReplication(rc))
	for _, c := range cids {
		if !reopened.Has(c) || !reopened.owed(c.Hash()) {
			t.Fatalf("acknowledged push %s is not durable with its duty mark", c)
		}
	}
}

func TestAPushWhoseCallerGivesUpLeavesTheOthersInItsBatch(t *testing.T) {
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 1, GraceDelay: time.Minute, Interval: time.Hour}
	from, to := startNode(t, withReplication(rc)), startNode(t, withReplication(rc))
	link(t, from, to)
	pollUntil(t, 10*time.Second, "identify to say the peer takes batches", func() bool { return from.client.Batches(to.ID()) })

	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	data := randomData(t, 1, 64<<10)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := from.pushes.push(gone, to.ID(), c, data); !errors.Is(err, context.Canceled) {
		t.Fatalf("push with an ended context = %v, want context.Canceled", err)
	}
	other := randomData(t, 2, 64<<10)
	oc, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, other)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := from.pushes.push(ctx, to.ID(), oc, other); err != nil {
		t.Fatalf("the next push failed: %v", err)
	}
	if !to.Has(oc) {
		t.Fatal("the next push is not stored")
	}
}
