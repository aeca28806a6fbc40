package testnet

import (
	"slices"
	"testing"
	"time"
)

func TestPlanKeepsTheFaultBudgetAndHasEveryKind(t *testing.T) {
	for seed := int64(1); seed <= 50; seed++ {
		plan := Plan(seed, 7, 2, 5*time.Minute, time.Minute)
		if got := MaxConcurrent(plan); got > 2 {
			t.Fatalf("seed %d: %d nodes faulty at once, budget 2:\n%v", seed, got, plan)
		}
		if plan[0].Kind != Freeze || plan[0].For != time.Minute {
			t.Fatalf("seed %d: first fault %v, want a one-minute freeze", seed, plan[0])
		}
		kinds := map[Kind]bool{}
		for _, f := range plan {
			kinds[f.Kind] = true
			if f.End() > 5*time.Minute {
				t.Fatalf("seed %d: %v ends after the schedule", seed, f)
			}
			if f.Kind == Loss {
				for _, g := range plan {
					if g.Kind != Loss && g.At < f.End() && f.At < g.End() {
						t.Fatalf("seed %d: %v overlaps the loss %v", seed, g, f)
					}
				}
			}
		}
		for _, k := range []Kind{Freeze, Kill, Partition, Isolate, DiskFull, Bitrot, Loss} {
			if !kinds[k] {
				t.Fatalf("seed %d: no %s in %v", seed, k, plan)
			}
		}
	}
}

func TestPlanIsTheSameForTheSameSeed(t *testing.T) {
	a := Plan(7, 7, 2, 5*time.Minute, time.Minute)
	b := Plan(7, 7, 2, 5*time.Minute, time.Minute)
	if !slices.EqualFunc(a, b, func(x, y Fault) bool { return x.String() == y.String() }) {
		t.Fatalf("two plans from one seed differ:\n%v\n%v", a, b)
	}
	if c := Plan(8, 7, 2, 5*time.Minute, time.Minute); slices.EqualFunc(a, c, func(x, y Fault) bool { return x.String() == y.String() }) {
		t.Fatal("seeds 7 and 8 plan the same schedule")
	}
}
