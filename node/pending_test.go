package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/pinset"
	"github.com/ipfs/go-cid"
)

// With W=1 an add's pin joins the set after the add returns; the set's
// readers and an unpin must not see the gap.
func TestAPinAddedWithAWriteQuorumOfOneIsInTheSetOnceTheAddReturns(t *testing.T) {
	n := startNode(t, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 20 {
		res, err := n.Add(ctx, bytes.NewReader([]byte(fmt.Sprint("listed at once ", i))), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.ClusterPinOf(ctx, res.Root); err != nil {
			t.Fatalf("add %d: the set does not have its pin right after: %v", i, err)
		}
		listed := false
		if err := n.ClusterPins(ctx, func(p ClusterPin) error {
			listed = listed || p.Root == res.Root
			return nil
		}); err != nil || !listed {
			t.Fatalf("add %d: pin ls right after does not list it (%v)", i, err)
		}
	}
}

func TestAnUnpinRightAfterAnAddWithAWriteQuorumOfOneStays(t *testing.T) {
	n := startNode(t, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 20 {
		res, err := n.Add(ctx, bytes.NewReader([]byte(fmt.Sprint("unpinned at once ", i))), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.UnpinCluster(ctx, res.Root); err != nil {
			t.Fatalf("unpin right after add %d: %v", i, err)
		}
		if err := n.pubs.wait(ctx); err != nil { // every publish has landed
			t.Fatal(err)
		}
		if _, err := n.ClusterPinOf(ctx, res.Root); !errors.Is(err, ErrNotPinned) {
			t.Fatalf("add %d, unpinned at once: the set has it again (%v)", i, err)
		}
	}
}

func TestPinsOnTheirWayToTheSetAreListedOnceAndInCIDOrder(t *testing.T) {
	n := startNode(t, withReplication(ReplicationConfig{Factor: 1, WriteQuorum: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var inSet []cid.Cid
	for i := range 3 {
		res, err := n.Add(ctx, bytes.NewReader([]byte(fmt.Sprint("in the set ", i))), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inSet = append(inSet, res.Root)
	}
	if err := n.pubs.wait(ctx); err != nil {
		t.Fatal(err)
	}
	// A publish still on its way: one root the set lacks, one it has.
	onTheWay, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte("on its way"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := n.ClusterPinTotals(ctx)
	if err != nil || before.Pins != 3 {
		t.Fatalf("totals of the set = %+v, %v; want 3 pins", before, err)
	}
	at := time.Now().UTC()
	done := n.pubs.begin([]pinset.Pin{{Root: onTheWay, Name: "pending", By: n.ID(), At: at, Bytes: 1000},
		{Root: inSet[1], By: n.ID(), At: at, Bytes: 7}})
	list := func() []string {
		t.Helper()
		var out []string
		if err := n.ClusterPins(ctx, func(p ClusterPin) error {
			out = append(out, p.Root.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := []string{onTheWay.String()}
	for _, r := range inSet {
		want = append(want, r.String())
	}
	slices.Sort(want)
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v (each once, in CID order)", got, want)
	}
	if p, err := n.ClusterPinOf(ctx, onTheWay); err != nil || p.Name != "pending" {
		t.Fatalf("the pending pin: %+v, %v", p, err)
	}
	// The totals count the pending pins too, each root once, without
	// waiting for the publish (which here never ends until done).
	soon, cancelSoon := context.WithTimeout(ctx, 5*time.Second)
	defer cancelSoon()
	if got, err := n.ClusterPinTotals(soon); err != nil || got.Pins != 4 || got.Bytes != before.Bytes+1000 {
		t.Fatalf("totals with a publish on its way = %+v, %v; want 4 pins of %d bytes", got, err, before.Bytes+1000)
	}
	done() // it never reached the set
	if got := list(); len(got) != 3 || slices.Contains(got, onTheWay.String()) {
		t.Fatalf("after the publish ended without landing: %v", got)
	}
	if _, err := n.ClusterPinOf(ctx, onTheWay); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("the pin that never landed: %v, want ErrNotPinned", err)
	}
}
