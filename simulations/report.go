package simulations

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/cairnstore/cairn/simulations/model"
)

// Stat summarises a sample.
type Stat struct {
	Median, P95, Mean float64
	Max               float64
}

// summarize computes a Stat; percentiles are nearest-rank.
func summarize[T int | float64](xs []T) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := make([]float64, len(xs))
	sum := 0.0
	for i, x := range xs {
		s[i] = float64(x)
		sum += s[i]
	}
	sort.Float64s(s)
	rank := func(p float64) float64 {
		return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, P95: rank(0.95), Mean: sum / float64(len(s)), Max: s[len(s)-1]}
}

// LookupRow is the lookup cost measured at one network size.
type LookupRow struct {
	N         int
	Lookups   int
	Missed    int // lookups that found no provider; not in Hops or RPCs
	Hops      Stat
	RPCs      Stat
	TableSize float64 // mean routing-table size
}

// LookupResult is the lookup scenario's outcome.
type LookupResult struct {
	BucketSize int
	Alpha      int
	Rows       []LookupRow
	A, B, R2   float64 // median hops = A·log2(N) + B
}

// ChurnSample is the fewest live copies of any acknowledged block at a
// moment of the churn run.
type ChurnSample struct {
	At      time.Duration
	MinLive int
	Nodes   int
}

// ChurnResult is the churn scenario's outcome.
type ChurnResult struct {
	StartNodes     int
	Duration       time.Duration
	KillEvery      time.Duration
	Killed, Joined int
	Files, Acked   int
	Lost           int // acknowledged files not readable at the end
	Reads, Failed  int // reads during churn, and those that failed
	MinLive        int // over the whole run
	Samples        []ChurnSample
	// Repair is, for each death after which some block fell below R,
	// the time until every block had R live copies again.
	Repair     Stat
	Converged  time.Duration // from churn's end to every block at R copies
	GraceDelay time.Duration
	Interval   time.Duration
}

// PartitionResult is the partition scenario's outcome.
type PartitionResult struct {
	Nodes                int
	Before, SideA, SideB int // files written before and on each side
	Lost                 int
	Converged            time.Duration // from heal to every block at R copies
}

// BitrotResult is the bitrot scenario's outcome.
type BitrotResult struct {
	Nodes, Files, Corrupted int
	Repaired                int
	Detected                int64 // corrupt blocks the nodes found
	Took                    time.Duration
}

// ModelResult is the internet-scale model's outcome.
type ModelResult struct {
	Result   model.Result // cairn's settings, N = 1,000 ... 100,000
	A, B, R2 float64      // median hops = A·log2(N) + B over Result
	Took     time.Duration
	// AtLookupSettings is the model at the real-node scenario's k and
	// alpha and sizes, to set beside it.
	AtLookupSettings model.Result
}

// Report is everything a simulation run measured.
type Report struct {
	mu        sync.Mutex
	Seed      int64
	Full      bool
	Date      string
	Took      time.Duration // the whole run
	MaxRSS    int64         // peak resident memory of the run, bytes
	Lookup    *LookupResult
	Churn     *ChurnResult
	Partition *PartitionResult
	Bitrot    *BitrotResult
	Model     *ModelResult
}

func (r *Report) setLookup(v LookupResult)       { r.mu.Lock(); r.Lookup = &v; r.mu.Unlock() }
func (r *Report) setChurn(v ChurnResult)         { r.mu.Lock(); r.Churn = &v; r.mu.Unlock() }
func (r *Report) setPartition(v PartitionResult) { r.mu.Lock(); r.Partition = &v; r.mu.Unlock() }
func (r *Report) setBitrot(v BitrotResult)       { r.mu.Lock(); r.Bitrot = &v; r.mu.Unlock() }
func (r *Report) setModel(v ModelResult)         { r.mu.Lock(); r.Model = &v; r.mu.Unlock() }
