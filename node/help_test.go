package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
)

func TestHoldersNotElectedRepairWhatTheElectedRepairerLeavesUndone(t *testing.T) {
	// Every walk leaves its own repairs undone, and walks come only after
	// a death (the interval is an hour): only holders that help can bring
	// the dead node's chunks back to R within the test.
	testHookSkipOwnRepairs = true
	t.Cleanup(func() { testHookSkipOwnRepairs = false })
	rc := ReplicationConfig{Factor: 3, WriteQuorum: 2, GraceDelay: 300 * time.Millisecond, Interval: time.Hour, TickEvery: 50 * time.Millisecond}
	nodes := cluster(t, 6, rc)
	data := randomData(t, 77, 8*chunk.ChunkSize)
	res, err := nodes[0].Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := file{root: res.Root, data: data, keys: dagKeys(t, nodes[0], res.Root), adder: nodes[0]}
	waitCopies(t, nodes, []file{f}, 3, 3+2, time.Minute)

	// The node other than the adder that holds the most blocks dies.
	victim, most := 0, 0
	for i, n := range nodes[1:] {
		held := 0
		for _, k := range f.keys {
			if len(holders([]*Node{n}, k)) > 0 {
				held++
			}
		}
		if held > most {
			victim, most = i+1, held
		}
	}
	var alive []*Node
	for i, n := range nodes {
		if i != victim {
			alive = append(alive, n)
		}
	}
	nodes[victim].Close()
	short := 0
	for _, k := range f.keys {
		if len(holders(alive, k)) < 3 {
			short++
		}
	}
	if short == 0 {
		t.Fatal("the dead node's copies were all spare: nothing to repair")
	}
	waitCopies(t, alive, []file{f}, 3, 3+2, 30*time.Second)
	// A helper counts a copy once the target has proved it, just after
	// the copy lands. (Not every chunk short at the death need be one:
	// the add's own pushes may still bring some to R before the walk.)
	helped := func() (n int64) {
		for _, a := range alive {
			n += a.RepairStats().Helped
		}
		return n
	}
	pollUntil(t, 10*time.Second, "a helper counts a copy it made", func() bool { return helped() > 0 })
	t.Logf("%d chunks fell short; helpers made %d copies", short, helped())
}
