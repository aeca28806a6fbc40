package simulations

import (
	"context"
	"testing"
	"time"
)

func TestPartitionHealsWithoutLosingAcknowledgedFiles(t *testing.T) {
	n := scale(10, 24)
	split := scale(5*time.Second, 20*time.Second)
	nw := newNetwork(t, Options{Replication: simRepair})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := nw.Grow(ctx, n); err != nil {
		t.Fatal(err)
	}
	var files []File
	write := func(on []*Member, count int) int {
		t.Helper()
		acked := 0
		for i := range count {
			f, err := nw.AddFile(ctx, on[nw.Intn(len(on))], fileSizes[i%len(fileSizes)])
			if err != nil {
				t.Fatal(err)
			}
			if !f.Acked(simRepair.WriteQuorum) {
				t.Fatalf("a write inside a half of %d nodes got %d copies, want the quorum", len(on), f.Copies)
			}
			files = append(files, f)
			acked++
		}
		return acked
	}
	before := write(nw.Live(), scale(6, 20))
	if err := nw.WaitCopies(ctx, files, 3); err != nil {
		t.Fatal(err)
	}

	live := nw.Live()
	a, b := live[:n/2], live[n/2:]
	if err := nw.Partition(a, b); err != nil {
		t.Fatal(err)
	}
	// Both halves keep taking writes while apart.
	sideA := write(a, scale(4, 12))
	sideB := write(b, scale(4, 12))
	time.Sleep(split) // the partition lasts this long: the scenario's input, not a wait for an event
	if err := nw.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()

	// Converged: every node's repair, walking after the heal, finds
	// nothing to do; every block is at R live copies or more and at most
	// R+2 beside the pinned copy of its writer (repair drops the surplus
	// the two halves made); every file reads back on both sides.
	if err := nw.WaitRepairQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nw.WaitSettled(ctx, files, 3, 5); err != nil {
		t.Fatal(err)
	}
	converged := time.Since(healed)
	lost := 0
	for i, f := range files {
		for _, side := range [][]*Member{a, b} {
			if err := nw.ReadFile(ctx, side[nw.Intn(len(side))], f, 20*time.Second); err != nil {
				lost++
				t.Errorf("file %d after healing: %v", i, err)
				break
			}
		}
	}
	t.Logf("partition: %d nodes, %d files before, %d+%d during; converged %v after healing; lost %d", n, before, sideA, sideB, converged, lost)
	report.setPartition(PartitionResult{Nodes: n, Before: before, SideA: sideA, SideB: sideB, Lost: lost, Converged: converged})
}
