package simulations

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node"
)

// simRepair is the replication the durability scenarios run with: cairn's
// R=3, W=2, with timers scaled down from minutes to seconds.
var simRepair = node.ReplicationConfig{
	Factor:      3,
	WriteQuorum: 2,
	GraceDelay:  time.Second,
	Interval:    2 * time.Second,
	TickEvery:   100 * time.Millisecond,
	// Mocknet shows every disconnection; a ping a second between 32 nodes
	// on two cores would only add load (the testnet tests liveness).
	ProbeEvery: -1,
}

// fileSizes cycles through a one-block file, files of a few chunks, and
// one of a chunk and a byte.
var fileSizes = []int{1000, 300_000, 262_145, 900_000}

// churnLog is the record the churn scenario's goroutines share.
type churnLog struct {
	mu      sync.Mutex
	files   []File
	kills   []time.Time
	joins   int
	reads   int
	failed  []error
	samples []ChurnSample
}

func (l *churnLog) acked() []File {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []File
	for _, f := range l.files {
		if f.Acked(simRepair.WriteQuorum) {
			out = append(out, f)
		}
	}
	return out
}

func TestEveryAcknowledgedFileSurvivesChurn(t *testing.T) {
	startNodes := scale(12, 32)
	duration := scale(20*time.Second, 3*time.Minute)
	killEvery := scale(4*time.Second, 5*time.Second)
	nw := newNetwork(t, Options{Replication: simRepair})
	ctx, cancel := context.WithTimeout(context.Background(), duration+4*time.Minute)
	defer cancel()
	if err := nw.Grow(ctx, startNodes); err != nil {
		t.Fatal(err)
	}
	log := &churnLog{}
	write := func(i int) {
		m := nw.Random()
		f, err := nw.AddFile(ctx, m, fileSizes[i%len(fileSizes)])
		if err != nil {
			return // its node died under it: not acknowledged
		}
		log.mu.Lock()
		log.files = append(log.files, f)
		log.mu.Unlock()
	}
	for i := range 8 {
		write(i)
	}
	if err := nw.WaitCopies(ctx, log.acked(), 3); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	churnCtx, stopChurn := context.WithDeadline(ctx, start.Add(duration))
	defer stopChurn()
	var wg sync.WaitGroup
	every := func(d time.Duration, fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-churnCtx.Done():
					return
				case <-tick.C:
					fn(i)
				}
			}
		}()
	}
	every(killEvery, func(int) { // a death and a birth
		victim := nw.Random()
		log.mu.Lock()
		log.kills = append(log.kills, time.Now())
		log.mu.Unlock()
		if err := nw.Kill(victim); err != nil {
			t.Logf("kill %s: %v", victim, err)
		}
		if _, err := nw.Join(churnCtx); err != nil {
			if churnCtx.Err() == nil {
				t.Errorf("join: %v", err)
			}
			return
		}
		log.mu.Lock()
		log.joins++
		log.mu.Unlock()
	})
	every(time.Second, write)
	every(300*time.Millisecond, func(int) {
		acked := log.acked()
		f, m := acked[nw.Intn(len(acked))], nw.Random()
		err := nw.ReadFile(churnCtx, m, f, 10*time.Second)
		if churnCtx.Err() != nil || !nw.Alive(m) {
			return // the run ended or the reader died: no verdict
		}
		log.mu.Lock()
		log.reads++
		if err != nil {
			log.failed = append(log.failed, err)
		}
		log.mu.Unlock()
	})
	sampleCtx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	sampleDone := make(chan struct{})
	go func() { // the sampler runs on past churn, until convergence
		defer close(sampleDone)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			low, _ := nw.MinLive(log.acked())
			log.mu.Lock()
			log.samples = append(log.samples, ChurnSample{At: time.Since(start), MinLive: low, Nodes: len(nw.Live())})
			log.mu.Unlock()
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	<-churnCtx.Done()
	wg.Wait()
	churnEnd := time.Now()

	acked := log.acked()
	if err := nw.WaitCopies(ctx, acked, 3); err != nil {
		t.Errorf("after churn: %v", err)
	}
	converged := time.Since(churnEnd)
	stopSampler()
	<-sampleDone

	lost := 0
	for _, f := range acked {
		if err := nw.ReadFile(ctx, nw.Random(), f, 20*time.Second); err != nil {
			lost++
			t.Errorf("acknowledged file lost: %v", err)
		}
	}
	res := ChurnResult{
		StartNodes: startNodes, Duration: duration, KillEvery: killEvery,
		Killed: len(log.kills), Joined: log.joins,
		Files: len(log.files), Acked: len(acked), Lost: lost,
		Reads: log.reads, Failed: len(log.failed),
		Samples: log.samples, MinLive: minSample(log.samples),
		Repair:     summarize(repairTimes(log.kills, log.samples, start)),
		Converged:  converged,
		GraceDelay: simRepair.GraceDelay, Interval: simRepair.Interval,
	}
	for _, err := range log.failed {
		t.Errorf("read during churn failed: %v", err)
	}
	if res.MinLive < 1 {
		t.Errorf("some acknowledged block had no live copy at some point")
	}
	t.Logf("churn: %d killed, %d files (%d acked), %d reads (%d failed), min live %d, repair median %.1fs max %.1fs, converged in %v, lost %d",
		res.Killed, res.Files, res.Acked, res.Reads, res.Failed, res.MinLive, res.Repair.Median, res.Repair.Max, converged, lost)
	report.setChurn(res)
}

func minSample(ss []ChurnSample) int {
	low := -1
	for _, s := range ss {
		if low < 0 || s.MinLive < low {
			low = s.MinLive
		}
	}
	return low
}

// repairTimes measures, for each death after which the samples fell below
// 3 copies, the time from the death to the first sample back at 3. Deaths
// that fall within one dip share it, and the dip counts from the first.
func repairTimes(kills []time.Time, samples []ChurnSample, start time.Time) []float64 {
	var out []float64
	k := 0
	var dipFrom time.Duration = -1
	for _, s := range samples {
		for k < len(kills) && kills[k].Sub(start) <= s.At {
			if dipFrom < 0 {
				dipFrom = kills[k].Sub(start)
			}
			k++
		}
		if s.MinLive < 3 {
			continue
		}
		if dipFrom >= 0 && hadDip(samples, dipFrom, s.At) {
			out = append(out, (s.At - dipFrom).Seconds())
		}
		dipFrom = -1
	}
	return out
}

func hadDip(samples []ChurnSample, from, to time.Duration) bool {
	for _, s := range samples {
		if s.At > from && s.At < to && s.MinLive < 3 {
			return true
		}
	}
	return false
}
