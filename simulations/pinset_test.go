package simulations

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
)

// simCluster announces the pin set's heads often enough that a healed
// partition converges within seconds.
var simCluster = &node.ClusterConfig{
	RebroadcastInterval: 500 * time.Millisecond,
	UnpinGrace:          time.Hour, // nothing is freed during the scenario
	SweepInterval:       time.Minute,
	StatusInterval:      time.Second,
}

// setOf lists m's replica of the cluster's pin set.
func setOf(t *testing.T, ctx context.Context, m *Member) []string {
	t.Helper()
	var out []string
	if err := m.Node.ClusterPins(ctx, func(p node.ClusterPin) error {
		out = append(out, p.Root.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// waitSets polls until every member's set is want.
func waitSets(t *testing.T, ctx context.Context, members []*Member, want []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, m := range members {
		for !slices.Equal(setOf(t, ctx, m), want) {
			if time.Since(start) > within {
				t.Fatalf("after %v: %s has %d pins, want the %d of the set", within, m, len(setOf(t, ctx, m)), len(want))
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
	return time.Since(start)
}

// TestPinSetConvergesAfterAPartition splits ten nodes 5/5, pins and
// unpins on both sides (one CID pinned again on one side while the other
// unpins it), heals, and checks every node ends with the same set: the
// adds and removes of both sides, and the contested CID pinned
// (go-ds-crdt's add-wins rule).
func TestPinSetConvergesAfterAPartition(t *testing.T) {
	const n = 10
	split := scale(5*time.Second, 30*time.Second)
	nw := newNetwork(t, Options{Replication: simRepair, Cluster: simCluster})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := nw.Grow(ctx, n); err != nil {
		t.Fatal(err)
	}
	live := nw.Live()
	a, b := live[:n/2], live[n/2:]
	want := map[string]bool{}
	add := func(on *Member) cid.Cid {
		t.Helper()
		f, err := nw.AddFile(ctx, on, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		want[f.Root.String()] = true
		return f.Root
	}
	// Before: four pins everyone holds; the contested one was added on A.
	pre := []cid.Cid{add(a[0]), add(a[1]), add(b[0]), add(b[1])}
	contested := pre[1]
	waitSets(t, ctx, live, slices.Sorted(maps.Keys(want)), 30*time.Second)

	if err := nw.Partition(a, b); err != nil {
		t.Fatal(err)
	}
	unpin := func(on *Member, root cid.Cid) {
		t.Helper()
		if err := on.Node.UnpinCluster(ctx, root); err != nil {
			t.Fatal(err)
		}
		delete(want, root.String())
	}
	for i := range 3 {
		add(a[i])
		add(b[i])
	}
	unpin(a[2], pre[2])
	unpin(b[2], pre[0])
	// The contested CID: pinned again on A (its adder holds it whole),
	// unpinned on B, concurrently as far as the set can tell.
	if _, err := a[1].Node.PinCluster(ctx, contested, node.PinOptions{Name: "again"}); err != nil {
		t.Fatal(err)
	}
	unpin(b[3], contested)
	want[contested.String()] = true // add wins
	time.Sleep(split)               // the partition lasts this long: the scenario's input, not a wait for an event
	if err := nw.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	took := waitSets(t, ctx, live, slices.Sorted(maps.Keys(want)), time.Minute)
	t.Logf("pin set: %d nodes split 5/5 for %v, 6 pins and 3 unpins across it; every set equal %v after healing, the contested CID pinned",
		n, split, took)
}
