package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
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
