package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
)

// A chunk on more than R+2 nodes (here: fetched by every node) loses its
// farthest copies at the next walks, down to R+2.
func TestSurplusCopiesAreDroppedDownToRPlusTwo(t *testing.T) {
	nodes := cluster(t, 7, fastRepair)
	ctx := context.Background()
	data := randomData(t, 501, 100_000) // one block
	res, err := nodes[0].Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := file{root: res.Root, data: data, keys: dagKeys(t, nodes[0], res.Root), adder: nodes[0]}
	waitCopies(t, nodes, []file{f}, 3, 7, time.Minute)
	for _, n := range nodes[1:] {
		if err := n.Fetch(ctx, res.Root, FetchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(holders(nodes, f.keys[0])); got != 7 {
		t.Fatalf("%d holders after every node fetched, want 7", got)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got := len(holders(nodes, f.keys[0]))
		if got <= 5 && got >= 3 {
			break
		}
		if time.Now().After(deadline) {
			var dropped int64
			for _, n := range nodes {
				dropped += n.RepairStats().Dropped
			}
			t.Fatalf("%d holders a minute later (walks every %v), want at most R+2 = 5; %d drops", got, fastRepair.Interval, dropped)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}
