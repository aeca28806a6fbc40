package simulations

import (
	"testing"
	"time"

	"github.com/cairnstore/cairn/simulations/model"
)

// The model at cairn's own settings (k=20, alpha=10), from 1,000 to
// 100,000 peers, and at the real-node scenario's settings over its sizes,
// so the two can be set side by side.
func TestModelLookupHopsGrowWithTheLogOfNUpTo100k(t *testing.T) {
	sizes := scale([]int{1000, 10_000}, []int{1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000})
	start := time.Now()
	res, err := model.Run(model.Config{Seed: uint64(*seedFlag), Sizes: sizes, LookupsPerSize: scale(200, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	a, b, r2, err := model.FitLog2(res.MedianHops())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Sizes {
		if s.Found != s.Lookups {
			t.Errorf("N=%d: %d of %d lookups found the provider", s.N, s.Found, s.Lookups)
		}
		t.Logf("model N=%d: hops median %.1f p95 %.1f mean %.2f, RPCs median %.1f", s.N, s.Hops.Median, s.Hops.P95, s.Hops.Mean, s.RPCs.Median)
	}
	last := res.Sizes[len(res.Sizes)-1]
	if last.Hops.Median > 6 {
		t.Errorf("median hops at N=%d is %.1f, want at most 6", last.N, last.Hops.Median)
	}
	if first := res.Sizes[0]; last.Hops.Mean <= first.Hops.Mean {
		t.Errorf("mean hops did not grow from N=%d (%.2f) to N=%d (%.2f)", first.N, first.Hops.Mean, last.N, last.Hops.Mean)
	}
	t.Logf("model fit: median hops = %.3f·log2(N) %+.3f (r² %.2f), %v", a, b, r2, took)

	small, err := model.Run(model.Config{Seed: uint64(*seedFlag), Sizes: []int{16, 32, 64, 128, 256},
		LookupsPerSize: scale(200, 2000), K: lookupBucketSize, Alpha: lookupAlpha})
	if err != nil {
		t.Fatal(err)
	}
	report.setModel(ModelResult{Result: res, A: a, B: b, R2: r2, Took: took, AtLookupSettings: small})
}
