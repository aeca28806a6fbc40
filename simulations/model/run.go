package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// kad-dht's defaults (the amino package), which cairn uses except for k
// when a simulation asks for small buckets.
const (
	DefaultK     = 20
	DefaultAlpha = 10
	DefaultBeta  = 3
)

// MaxPeers is the largest network Run builds.
const MaxPeers = 1_000_000

// Config describes a sweep of lookup experiments.
type Config struct {
	// Seed makes the run reproducible: the same Config gives the same
	// Result.
	Seed uint64
	// Sizes are the network sizes N to model, each 2..MaxPeers.
	Sizes []int
	// LookupsPerSize is how many FindProviders lookups run at each size,
	// each for a fresh random key from a random source.
	LookupsPerSize int
	// K, Alpha and Beta are kad-dht's bucket size, concurrency and
	// resiliency; zero means kad-dht's default (20, 10, 3).
	K, Alpha, Beta int
	// Offline is the fraction of peers, drawn at random per size, that
	// are gone but still listed in routing tables; 0 models a network with
	// no failures. Sources and providers are always online.
	Offline float64
}

// withDefaults fills kad-dht's defaults and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.K == 0 {
		c.K = DefaultK
	}
	if c.Alpha == 0 {
		c.Alpha = DefaultAlpha
	}
	if c.Beta == 0 {
		c.Beta = DefaultBeta
	}
	var errs []error
	if len(c.Sizes) == 0 {
		errs = append(errs, errors.New("no sizes"))
	}
	for _, n := range c.Sizes {
		if n < 2 || n > MaxPeers {
			errs = append(errs, fmt.Errorf("size %d: want 2..%d (a source and a provider)", n, MaxPeers))
		}
	}
	if c.LookupsPerSize < 1 {
		errs = append(errs, fmt.Errorf("lookups per size %d: want at least 1", c.LookupsPerSize))
	}
	// 1024 is far above any bucket size in use; the bound keeps a typo
	// from asking for tables of millions of entries per peer.
	if c.K < 1 || c.K > 1024 {
		errs = append(errs, fmt.Errorf("k %d: want 1..1024", c.K))
	}
	if c.K >= 1 {
		for _, n := range c.Sizes {
			if n >= 2 && n <= MaxPeers {
				if _, _, err := tableEstimate(n, c.K); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if c.Alpha < 1 {
		errs = append(errs, fmt.Errorf("alpha %d: want at least 1", c.Alpha))
	}
	if c.Beta < 1 {
		errs = append(errs, fmt.Errorf("beta %d: want at least 1", c.Beta))
	}
	if !(c.Offline >= 0 && c.Offline < 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("offline fraction %v: want [0, 1)", c.Offline))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("model config: %w", err)
	}
	return c, nil
}

// Summary describes one measure over a size's lookups.
type Summary struct {
	Median float64
	P95    float64
	Mean   float64
	Max    int
}

// SizeResult is what the lookups at one network size measured.
type SizeResult struct {
	N       int
	Lookups int
	// Found counts lookups that returned the provider; Local those the
	// source answered from its own provider store (0 RPCs, 0 hops; they
	// are included in the summaries, as cairn's totals include them).
	Found, Local int
	// Hops and RPCs are as cairn's dht.LookupStats defines them.
	Hops, RPCs Summary
	// AnswerDepth is the referral depth of the peer that returned the
	// provider, a lower bound of Hops (which also counts deeper queries
	// in flight at the time).
	AnswerDepth Summary
	// TableSize is the mean routing table size.
	TableSize float64
}

// Result is a sweep's outcome, one entry per size in Config order.
type Result struct {
	Config Config // with defaults filled in
	Sizes  []SizeResult
}

// Point is one (N, hops) pair for FitLog2.
type Point struct {
	N    int
	Hops float64
}

// MedianHops returns the median hops at each size, for FitLog2.
func (r Result) MedianHops() []Point {
	ps := make([]Point, 0, len(r.Sizes))
	for _, s := range r.Sizes {
		ps = append(ps, Point{N: s.N, Hops: s.Hops.Median})
	}
	return ps
}

// MeanHops returns the mean hops at each size. Hop counts are small
// integers, so medians move in whole steps and fit a line loosely; means
// show the trend more smoothly.
func (r Result) MeanHops() []Point {
	ps := make([]Point, 0, len(r.Sizes))
	for _, s := range r.Sizes {
		ps = append(ps, Point{N: s.N, Hops: s.Hops.Mean})
	}
	return ps
}

// Run builds a converged network at each size and measures lookups on it.
// Sizes run one after another, so memory is that of the largest network.
func Run(cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	cfg.Sizes = slices.Clone(cfg.Sizes)
	res := Result{Config: cfg}
	for _, n := range cfg.Sizes {
		stats, tableSize, err := runSize(cfg, n)
		if err != nil {
			return Result{}, fmt.Errorf("model: size %d: %w", n, err)
		}
		sr := summarise(n, stats)
		sr.TableSize = tableSize
		res.Sizes = append(res.Sizes, sr)
	}
	return res, nil
}

// runSize measures cfg.LookupsPerSize lookups on a fresh network of n
// peers and returns them with the network's mean table size.
func runSize(cfg Config, n int) ([]lookupStats, float64, error) {
	net, err := newNetwork(cfg.Seed, n, cfg.K)
	if err != nil {
		return nil, 0, err
	}
	var offline []bool
	online := n
	if cfg.Offline > 0 {
		offline = make([]bool, n)
		r := newRand(cfg.Seed, streamOffline, uint64(n), 0)
		for p := range offline {
			if r.Float64() < cfg.Offline {
				offline[p] = true
				online--
			}
		}
	}
	if online < 2 {
		return nil, 0, fmt.Errorf("%d of %d peers online: need a source and a provider", online, n)
	}
	l := newLooker(net, params{k: cfg.K, alpha: cfg.Alpha, beta: cfg.Beta}, offline)
	stats := make([]lookupStats, 0, cfg.LookupsPerSize)
	pick := func(r *rand.Rand, not int) uint32 {
		for { // online >= 2, so this ends
			p := r.IntN(n)
			if p != not && (offline == nil || !offline[p]) {
				return uint32(p)
			}
		}
	}
	for i := range cfg.LookupsPerSize {
		r := newRand(cfg.Seed, streamLookups, uint64(n), uint64(i))
		mh := blockMultihash(randBytes32(r))
		target := kadIDOf(mh[:])
		provider := pick(r, -1)
		src := pick(r, int(provider))
		holders := net.closest(target, cfg.K)
		if !slices.Contains(holders, provider) {
			holders = append(holders, provider)
		}
		stats = append(stats, l.lookup(src, target, holders))
	}
	return stats, float64(len(net.entries)) / float64(n), nil
}

func summarise(n int, stats []lookupStats) SizeResult {
	sr := SizeResult{N: n, Lookups: len(stats)}
	hops := make([]int, 0, len(stats))
	rpcs := make([]int, 0, len(stats))
	depth := make([]int, 0, len(stats))
	for _, s := range stats {
		if s.Found {
			sr.Found++
		}
		if s.Local {
			sr.Local++
		}
		hops = append(hops, s.Hops)
		rpcs = append(rpcs, s.RPCs)
		depth = append(depth, s.AnswerDepth)
	}
	sr.Hops, sr.RPCs, sr.AnswerDepth = summary(hops), summary(rpcs), summary(depth)
	return sr
}

func summary(xs []int) Summary {
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), P95: math.NaN(), Mean: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0
	for _, x := range s {
		sum += x
	}
	return Summary{
		Median: quantile(s, 0.5),
		P95:    quantile(s, 0.95),
		Mean:   float64(sum) / float64(len(s)),
		Max:    s[len(s)-1],
	}
}

// quantile interpolates linearly between the closest ranks of sorted s
// (numpy's default; the median of an even count is the mean of the middle
// two).
func quantile(s []int, q float64) float64 {
	h := q * float64(len(s)-1)
	i := int(h)
	if i+1 >= len(s) {
		return float64(s[len(s)-1])
	}
	return float64(s[i]) + (h-float64(i))*float64(s[i+1]-s[i])
}
