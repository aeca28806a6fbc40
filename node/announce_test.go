package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// A clean stop marks the store so the next start skips walking every
// block; anything stored since (by a running node, or offline while no
// daemon runs) removes the mark, and the next start announces it.
func TestBlocksStoredSinceACleanStopAreAnnouncedAtTheNextStart(t *testing.T) {
	dir := t.TempDir()
	a := startNodeAt(t, dir)
	if a.store.Marked() {
		t.Fatal("a new node's store is marked as fully announced")
	}
	addData(t, a, randomData(t, 1, 10_000))
	stopSettled(t, a)

	a = startNodeAt(t, dir)
	if !a.store.Marked() {
		t.Fatal("not marked after a clean stop: every start would walk the whole index")
	}
	addData(t, a, randomData(t, 2, 10_000))
	if a.store.Marked() {
		t.Fatal("still marked after an add: a crash now would leave it unannounced")
	}
	stopSettled(t, a)
	if !a.store.Marked() {
		t.Fatal("not marked after the second clean stop")
	}

	// An add with no daemon running, as `cairn add` offline does.
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLocal(r)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	res, err := l.Add(context.Background(), bytes.NewReader(randomData(t, 3, 10_000)), chunk.AddOptions{})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	r.Close()
	if err != nil {
		t.Fatal(err)
	}

	a = startNodeAt(t, dir)
	if a.store.Marked() {
		t.Fatal("marked after an offline add")
	}
	b := startNode(t, withBootstrap(a.AddrInfo()))
	waitProvider(t, b, res.Root, a.ID())
}

// stopSettled stops n once its DHT's keystore holds every block (the
// start walk done), as a daemon left running a while would be.
func stopSettled(t *testing.T, n *Node) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !n.dht.Settled(); {
		if time.Now().After(deadline) {
			t.Fatal("the DHT did not settle within 20s")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// A holder whose blocks are in no provider record (here withdrawn; in
// life, added while alone and not yet announced) is still found: a fetch
// also asks its connected peers.
func TestAFetchFindsAConnectedHolderThatAnnouncedNothing(t *testing.T) {
	holder := startNode(t)
	root := addData(t, holder, randomData(t, 4, 1<<20))
	var keys []mh.Multihash
	if err := chunk.WalkCIDs(context.Background(), holder.store, root, func(c cid.Cid) error {
		keys = append(keys, c.Hash())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := holder.DHT().StopProviding(keys...); err != nil {
		t.Fatal(err)
	}
	fetcher := startNode(t, withBootstrap(holder.AddrInfo()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fetcher.Fetch(ctx, root, FetchOptions{}); err != nil {
		t.Fatalf("fetch from a connected holder with no provider record: %v", err)
	}
}
