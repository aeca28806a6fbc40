package model

import (
	"flag"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	fullSweep   = flag.Bool("model.full", false, "run the full 1,000..100,000 peer sweep (TestFullSweep)")
	fullLookups = flag.Int("model.lookups", 1000, "lookups per size in TestFullSweep")
	fullK       = flag.Int("model.k", DefaultK, "bucket size in TestFullSweep")
)

func mustRun(t *testing.T, cfg Config) Result {
	t.Helper()
	res, err := Run(cfg)
	if err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return res
}

func TestConfigErrors(t *testing.T) {
	good := Config{Seed: 1, Sizes: []int{100}, LookupsPerSize: 10}
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string // in the error
	}{
		{"no sizes", func(c *Config) { c.Sizes = nil }, "no sizes"},
		{"size 1", func(c *Config) { c.Sizes = []int{100, 1} }, "size 1"},
		{"size huge", func(c *Config) { c.Sizes = []int{MaxPeers + 1} }, "size 1000001"},
		{"no lookups", func(c *Config) { c.LookupsPerSize = 0 }, "lookups per size 0"},
		{"k negative", func(c *Config) { c.K = -1 }, "k -1"},
		{"k huge", func(c *Config) { c.K = 5000 }, "k 5000"},
		{"tables too big", func(c *Config) { c.Sizes = []int{MaxPeers}; c.K = 1024 }, "table entries"},
		{"alpha negative", func(c *Config) { c.Alpha = -2 }, "alpha -2"},
		{"beta negative", func(c *Config) { c.Beta = -3 }, "beta -3"},
		{"offline 1", func(c *Config) { c.Offline = 1 }, "offline fraction 1"},
		{"offline NaN", func(c *Config) { c.Offline = math.NaN() }, "offline fraction NaN"},
		{"offline negative", func(c *Config) { c.Offline = -0.1 }, "offline fraction -0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.Sizes = slices.Clone(good.Sizes)
			tc.modify(&cfg)
			_, err := Run(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Too few peers left online for a source and a provider.
	if _, err := Run(Config{Seed: 1, Sizes: []int{2}, LookupsPerSize: 1, Offline: 0.99}); err == nil {
		t.Error("Run with no peers online: no error")
	}
	res := mustRun(t, good)
	if c := res.Config; c.K != DefaultK || c.Alpha != DefaultAlpha || c.Beta != DefaultBeta {
		t.Errorf("defaults: got k=%d alpha=%d beta=%d", c.K, c.Alpha, c.Beta)
	}
}

func TestDeterministicPerSeed(t *testing.T) {
	cfg := Config{Seed: 42, Sizes: []int{500, 3000}, LookupsPerSize: 200, K: 4, Alpha: 3, Offline: 0.1}
	a, b := mustRun(t, cfg), mustRun(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different results:\n%+v\n%+v", a, b)
	}
	// Per lookup, not just in summary: a different seed must change
	// the lookups themselves.
	s1, _, err := runSize(cfg, 3000)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed++
	s2, _, err := runSize(cfg, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(s1, s2) {
		t.Fatal("seeds 42 and 43 gave the same lookups")
	}
}

func TestHopsGrowWithN(t *testing.T) {
	for _, tc := range []struct {
		name           string
		k, alpha, beta int
		sizes          []int
	}{
		{"k20 alpha10", 20, 10, 3, []int{200, 2000, 20000}},
		{"k4 alpha3", 4, 3, 3, []int{100, 1000, 10000}},
		{"k4 alpha10", 4, 10, 3, []int{100, 1000, 10000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, Config{Seed: 7, Sizes: tc.sizes, LookupsPerSize: 300, K: tc.k, Alpha: tc.alpha, Beta: tc.beta})
			for i := 1; i < len(res.Sizes); i++ {
				prev, cur := res.Sizes[i-1], res.Sizes[i]
				if cur.Hops.Median < prev.Hops.Median || cur.Hops.Mean <= prev.Hops.Mean {
					t.Errorf("hops did not grow from N=%d (median %v, mean %v) to N=%d (median %v, mean %v)",
						prev.N, prev.Hops.Median, prev.Hops.Mean, cur.N, cur.Hops.Median, cur.Hops.Mean)
				}
			}
			a, _, _, err := FitLog2(res.MedianHops())
			if err != nil {
				t.Fatal(err)
			}
			if a <= 0 {
				t.Errorf("fit slope %v: want > 0", a)
			}
		})
	}
}

func TestMedianHopsAt100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-peer network")
	}
	res := mustRun(t, Config{Seed: 1, Sizes: []int{100_000}, LookupsPerSize: 300, K: 20, Alpha: 10})
	s := res.Sizes[0]
	if s.Found != s.Lookups {
		t.Errorf("found %d of %d", s.Found, s.Lookups)
	}
	if s.Hops.Median > 6 {
		t.Errorf("median hops %v at N=100,000: want ≤ 6", s.Hops.Median)
	}
}

// TestFullSweep is the 1,000..100,000 sweep:
//
//	go test ./simulations/model/ -run TestFullSweep -model.full -v
func TestFullSweep(t *testing.T) {
	if !*fullSweep {
		t.Skip("pass -model.full to run the full sweep")
	}
	cfg := Config{
		Seed:           1,
		Sizes:          []int{1000, 2000, 5000, 10000, 20000, 50000, 100000},
		LookupsPerSize: *fullLookups,
		K:              *fullK,
		Alpha:          DefaultAlpha,
		Beta:           DefaultBeta,
	}
	start := time.Now()
	res := mustRun(t, cfg)
	t.Logf("k=%d alpha=%d beta=%d, %d lookups per size, %v",
		res.Config.K, res.Config.Alpha, res.Config.Beta, cfg.LookupsPerSize, time.Since(start).Round(time.Millisecond))
	t.Logf("%7s %5s %5s | %6s %5s %5s | %6s %5s %5s | %6s | %6s", "N", "found", "local",
		"hops50", "p95", "mean", "rpcs50", "p95", "mean", "depth", "table")
	for _, s := range res.Sizes {
		t.Logf("%7d %5d %5d | %6.1f %5.1f %5.2f | %6.1f %5.1f %5.2f | %6.2f | %6.1f", s.N, s.Found, s.Local,
			s.Hops.Median, s.Hops.P95, s.Hops.Mean, s.RPCs.Median, s.RPCs.P95, s.RPCs.Mean, s.AnswerDepth.Mean, s.TableSize)
	}
	a, b, r2, err := FitLog2(res.MedianHops())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("median hops = %.4f·log2(N) + %.4f, r² = %.4f", a, b, r2)
	if a, b, r2, err := FitLog2(res.MeanHops()); err == nil {
		t.Logf("mean hops   = %.4f·log2(N) + %.4f, r² = %.4f", a, b, r2)
	}
	last := res.Sizes[len(res.Sizes)-1]
	if cfg.K == DefaultK && last.Hops.Median > 6 {
		t.Errorf("median hops %v at N=%d: want ≤ 6", last.Hops.Median, last.N)
	}
	if first := res.Sizes[0]; last.Hops.Mean <= first.Hops.Mean {
		t.Errorf("mean hops fell from %v at N=%d to %v at N=%d", first.Hops.Mean, first.N, last.Hops.Mean, last.N)
	}
}

func TestFitLog2(t *testing.T) {
	line := []Point{{1 << 10, 2*10 + 1}, {1 << 12, 2*12 + 1}, {1 << 17, 2*17 + 1}}
	flat := []Point{{100, 3}, {1000, 3}}
	noisy := []Point{{1000, 2}, {2000, 2}, {5000, 3}, {10000, 3}, {100000, 4}}
	for _, tc := range []struct {
		name      string
		points    []Point
		a, b, r2  float64
		wantError bool
	}{
		{name: "exact line", points: line, a: 2, b: 1, r2: 1},
		{name: "flat", points: flat, a: 0, b: 3, r2: 1},
		// Reference from mpmath at 40 digits.
		{name: "noisy", points: noisy, a: 0.3161868889032188346, b: -1.1913304160340009685, r2: 0.93742622058862510716},
		{name: "one point", points: line[:1], wantError: true},
		{name: "same N", points: []Point{{100, 1}, {100, 2}}, wantError: true},
		{name: "N 0", points: []Point{{0, 1}, {100, 2}}, wantError: true},
		{name: "NaN hops", points: []Point{{10, math.NaN()}, {100, 2}}, wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, r2, err := FitLog2(tc.points)
			if tc.wantError {
				if err == nil {
					t.Fatalf("FitLog2: no error, got %v %v %v", a, b, r2)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			const tol = 1e-12
			if math.Abs(a-tc.a) > tol || math.Abs(b-tc.b) > tol || math.Abs(r2-tc.r2) > tol {
				t.Errorf("FitLog2 = (%v, %v, %v), want (%v, %v, %v)", a, b, r2, tc.a, tc.b, tc.r2)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		xs          []int
		median, p95 float64
		mean        float64
		max         int
	}{
		{[]int{3}, 3, 3, 3, 3},
		{[]int{4, 1, 3, 2}, 2.5, 3.85, 2.5, 4},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5}, 1, 1, 25.0 / 21, 5},
	} {
		s := summary(tc.xs)
		if s.Median != tc.median || math.Abs(s.P95-tc.p95) > 1e-12 || math.Abs(s.Mean-tc.mean) > 1e-12 || s.Max != tc.max {
			t.Errorf("summary(%v) = %+v, want median %v p95 %v mean %v max %v", tc.xs, s, tc.median, tc.p95, tc.mean, tc.max)
		}
	}
}
