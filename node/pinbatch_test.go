package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
)

// testPinBatch is a pinBatch whose publishes are recorded, the first one
// held until release is closed.
type testPinBatch struct {
	pinBatch
	wg        sync.WaitGroup
	release   chan struct{}
	published chan []pinset.Pin // every publish, in order
}

func newTestPinBatch(t *testing.T, ctx context.Context) *testPinBatch {
	t.Helper()
	b := &testPinBatch{release: make(chan struct{}), published: make(chan []pinset.Pin, 100)}
	first := true
	b.pinBatch = pinBatch{
		ctx:    ctx,
		linger: time.Millisecond,
		goBG: func(fn func()) bool {
			b.wg.Add(1)
			go func() { defer b.wg.Done(); fn() }()
			return true
		},
		publish: func(ctx context.Context, pins []pinset.Pin) {
			b.published <- pins
			if first {
				first = false
				<-b.release
			}
		},
	}
	t.Cleanup(b.wg.Wait)
	return b
}

func testPin(t *testing.T, i int) pinset.Pin {
	t.Helper()
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte(fmt.Sprint("pin ", i)))
	if err != nil {
		t.Fatal(err)
	}
	return pinset.Pin{Root: c}
}

func TestPinsQueuedWhileADeltaIsPublishedGoTogetherInTheNext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newTestPinBatch(t, ctx)
	var done atomic.Int32
	b.add([]pinset.Pin{testPin(t, 0)}, func() { done.Add(1) })
	if got := <-b.published; len(got) != 1 {
		t.Fatalf("first delta: %d pins, want 1", len(got))
	}
	// The first publish is held: everything added now waits for the next.
	for i := 1; i <= 100; i++ {
		b.add([]pinset.Pin{testPin(t, i)}, func() { done.Add(1) })
	}
	if n := done.Load(); n != 0 {
		t.Fatalf("%d adds released before their pins were published", n)
	}
	close(b.release)
	if got := <-b.published; len(got) != 100 {
		t.Fatalf("second delta: %d pins, want the 100 queued meanwhile in one", len(got))
	} else if got[0].Root != testPin(t, 1).Root || got[99].Root != testPin(t, 100).Root {
		t.Fatal("second delta: pins out of the order they were added in")
	}
	b.wg.Wait() // the run ends once the queue is empty
	if n := done.Load(); n != 101 {
		t.Fatalf("%d of 101 adds released", n)
	}
	if len(b.published) != 0 {
		t.Fatalf("%d more deltas published after the queue emptied", len(b.published))
	}
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if running {
		t.Fatal("the batch still counts a run after its last one ended")
	}
	// A pin added after the run ended starts another.
	b.add([]pinset.Pin{testPin(t, 101)}, func() { done.Add(1) })
	if got := <-b.published; len(got) != 1 {
		t.Fatalf("delta after a quiet spell: %d pins, want 1", len(got))
	}
}

func TestPinsQueuedAsTheNodeClosesAreReleasedUnpublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newTestPinBatch(t, ctx)
	b.linger = time.Hour // only the close ends the wait
	released := make(chan struct{})
	b.add([]pinset.Pin{testPin(t, 0)}, func() { close(released) })
	cancel()
	<-released
	b.wg.Wait()
	if len(b.published) != 0 {
		t.Fatal("a pin was published after the node closed")
	}
	// Once closed, an add is released at once.
	again := make(chan struct{})
	b.add([]pinset.Pin{testPin(t, 1)}, func() { close(again) })
	<-again
}

func TestConcurrentAddsWithAWriteQuorumOfOneLandInTheSetInSharedDeltas(t *testing.T) {
	n := startNode(t, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	var deltas atomic.Int32
	commit := n.pinGroup.commit
	n.pinGroup.commit = func(pins []pinset.Pin) error { deltas.Add(1); return commit(pins) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const adds = 64
	var wg sync.WaitGroup
	roots := make([]cid.Cid, adds)
	errs := make(chan error, adds)
	for i := range adds {
		wg.Go(func() {
			res, err := n.Add(ctx, bytes.NewReader([]byte(fmt.Sprint("shared delta ", i))), chunk.AddOptions{})
			roots[i] = res.Root
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := n.pubs.wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i, r := range roots {
		if _, err := n.pins.Get(ctx, r); err != nil {
			t.Fatalf("add %d: its pin is not in the set once published: %v", i, err)
		}
	}
	if d := deltas.Load(); d >= adds/2 {
		t.Fatalf("%d adds made %d deltas: they were not gathered", adds, d)
	}
}

// A W=1 add is acknowledged before its entry reaches the set: a node
// that stops (or dies) in between has the pin durable in its own records,
// and the reconcile at its next start puts it in the set.
func TestAPinNotYetInTheSetWhenTheNodeStoppedIsInItAfterTheRestart(t *testing.T) {
	dir := t.TempDir()
	opt := withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1})
	n := startNodeAt(t, dir, opt)
	n.w1Pins.linger = time.Hour // held until the node stops
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.Add(ctx, bytes.NewReader([]byte("acknowledged, not yet in the set")), chunk.AddOptions{Name: "late"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.pins.Get(ctx, res.Root); !errors.Is(err, pinset.ErrNotPinned) {
		t.Fatalf("the set has the pin before its linger ended (%v): the test checks nothing", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = startNodeAt(t, dir, opt)
	if err := n.pubs.wait(ctx); err != nil { // the reconcile has run
		t.Fatal(err)
	}
	p, err := n.pins.Get(ctx, res.Root)
	if err != nil {
		t.Fatalf("after the restart the set lacks the acknowledged pin: %v", err)
	}
	if p.Name != "late" {
		t.Fatalf("the pin came back as %+v, want its name", p)
	}
}

func TestPinsQueuedDuringAPublishTheCloseInterruptsAreReleased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newTestPinBatch(t, ctx)
	b.add([]pinset.Pin{testPin(t, 0)}, func() {})
	<-b.published // the first publish is held
	released := make(chan struct{})
	b.add([]pinset.Pin{testPin(t, 1)}, func() { close(released) })
	cancel() // the node closes while the publish runs
	close(b.release)
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("a pin queued during the publish was never released")
	}
	b.wg.Wait()
	if len(b.published) != 0 {
		t.Fatal("a pin was published after the node closed")
	}
}

// A pin made by name (pin add --name) keeps the name in this node's own
// record too, which is what the set gets back after a crash before the
// entry is published. (The record goes once the set's reference keeps
// the root, so it is read here for a root the set has not been told of.)
func TestAPinMadeByNameKeepsTheNameInTheLocalRecord(t *testing.T) {
	n := startNode(t, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.Local.Add(ctx, bytes.NewReader([]byte("renamed by a pin")), chunk.AddOptions{Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	localName := func() string {
		t.Helper()
		names := map[cid.Cid]string{}
		if err := n.Local.forEachPin(ctx, func(root cid.Cid, name string) error {
			names[root] = name
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, ok := names[res.Root]
		if !ok {
			t.Fatal("no local pin record")
		}
		return got
	}
	if got := localName(); got != "first" {
		t.Fatalf("after the add the record names the pin %q, want the add's name", got)
	}
	if err := n.pin(ctx, res.Root, "second", FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := localName(); got != "second" {
		t.Fatalf("after the pin the record names it %q, want the pin's name", got)
	}
}
