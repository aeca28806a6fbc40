package testnet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairnstore/cairn/node"
)

// Report is what a chaos run found.
type Report struct {
	Nodes, R  int
	Seed      int64
	Length    time.Duration
	Bound     time.Duration
	Timers    Timers
	Start     time.Time
	LastFault time.Time
	Plan      []Fault
	Applied   []Applied

	Acks  []Ack
	Adds  []AddResult
	Reads []Read

	// Recovery is how long after the last fault every acknowledged root
	// had all its blocks at R live copies (-1: not within 3 bounds; Under
	// roots were still below).
	Recovery time.Duration
	Under    int
	Below    []string // the roots still below at the last look, and why
	Copies   []CopySample
	// FrozenCopies follows the files the long freeze's node held, from
	// its resumption: how long their surplus copies took to go.
	FrozenCopies []CopySample
	// Surplus lists files never read with a block on more than R+2 nodes
	// two walks after every chunk was back at R.
	Surplus []string
	Lost    []string // acknowledged files that did not read back from some node
	Crashes []string // daemon exits nobody asked for, panics in logs
	Foreign []string // connections or routes outside the testnet
	// AddAfterFull is, for each node whose disk was filled, how an add
	// through it went once the disk was freed.
	AddAfterFull map[int]string

	// Figures summarize works out.
	ReadOutcomes  map[string]int
	AddOutcomes   map[string]int
	Latency       Percentiles    // of successful reads
	FullAdds      map[string]int // outcomes of adds through a node while its disk was full
	FreezeNode    int
	FreezeEnd     time.Time
	AboveSlackFor time.Duration // after the frozen node resumed, the longest stretch with a block above R+2
	Files         int
	Bytes         int64
}

// Percentiles of a latency distribution.
type Percentiles struct{ P50, P90, P99, Max time.Duration }

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Percentiles{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: ds[len(ds)-1]}
}

func (r *Report) summarize(cfg ChaosConfig) {
	r.ReadOutcomes, r.AddOutcomes, r.FullAdds = map[string]int{}, map[string]int{}, map[string]int{}
	var ok []time.Duration
	for _, x := range r.Reads {
		r.ReadOutcomes[x.Outcome]++
		if x.Outcome == "ok" {
			ok = append(ok, x.Latency)
		}
	}
	r.Latency = percentiles(ok)
	for _, a := range r.Adds {
		r.AddOutcomes[a.Outcome]++
		for _, f := range r.Applied {
			if f.Kind == DiskFull && f.Nodes[0] == a.Node && !a.At.Before(f.Start) && a.At.Before(f.End) {
				r.FullAdds[a.Outcome]++
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range r.Acks {
		r.Bytes += int64(a.Size)
		if !seen[a.CID+"/"+a.Path] {
			seen[a.CID+"/"+a.Path] = true
			r.Files++
		}
	}
	r.FreezeNode = -1
	for _, a := range r.Applied {
		if a.Kind == Freeze && a.For == cfg.FreezeFor && r.FreezeNode < 0 {
			r.FreezeNode, r.FreezeEnd = a.Nodes[0], a.End
		}
	}
	if r.FreezeNode >= 0 {
		r.AboveSlackFor = longestAbove(r.FrozenCopies, r.FreezeEnd, r.R+2)
	}
}

// longestAbove is the longest stretch after from during which the
// samples had a block above limit: from the stretch's first sample (from
// itself, for a stretch under way when the node resumed) to the first
// sample back within limit, or to the last sample if none came back.
// Later faults make surplus copies of their own for a while; what the
// promise bounds is how long any one surplus lasts.
func longestAbove(samples []CopySample, from time.Time, limit int) time.Duration {
	var longest time.Duration
	var start time.Time
	first := true
	for _, s := range samples {
		if !s.At.After(from) {
			continue
		}
		switch above := s.Most > limit; {
		case above && start.IsZero() && first:
			start = from
		case above && start.IsZero():
			start = s.At
		case !above && !start.IsZero():
			longest = max(longest, s.At.Sub(start))
			start = time.Time{}
		}
		first = false
		if !start.IsZero() {
			longest = max(longest, s.At.Sub(start))
		}
	}
	return longest
}

// Failures lists the promises the run broke; empty means it kept them all.
func (r *Report) Failures() []string {
	var out []string
	if len(r.Lost) > 0 {
		out = append(out, fmt.Sprintf("%d acknowledged reads did not come back (first: %s)", len(r.Lost), r.Lost[0]))
	}
	if r.ReadOutcomes["mismatch"] > 0 {
		out = append(out, fmt.Sprintf("%d reads during the faults returned wrong bytes", r.ReadOutcomes["mismatch"]))
	}
	if len(r.Crashes) > 0 {
		out = append(out, fmt.Sprintf("%d daemon crashes (first: %s)", len(r.Crashes), r.Crashes[0]))
	}
	if r.Recovery < 0 || r.Recovery > r.Bound {
		out = append(out, fmt.Sprintf("chunks not all back at %d copies within %v of the last fault (recovery %v, %d roots below)", r.R, r.Bound, r.Recovery, r.Under))
	}
	if len(r.Foreign) > 0 {
		out = append(out, fmt.Sprintf("traffic could leave the testnet: %s", r.Foreign[0]))
	}
	for n, s := range r.AddAfterFull {
		if s != "ok" {
			out = append(out, fmt.Sprintf("node %d took no add after its disk was freed: %s", n, s))
		}
	}
	for o, n := range r.FullAdds {
		if o != "acked" && o != "status 507" && o != "timeout" {
			out = append(out, fmt.Sprintf("%d adds through a full node ended %q rather than 507", n, o))
		}
	}
	if r.FreezeNode >= 0 && r.AboveSlackFor > r.Timers.WalkInterval+10*time.Second {
		out = append(out, fmt.Sprintf("after the frozen node resumed, blocks stayed above R+2 for %v at a stretch (a walk is %v)", r.AboveSlackFor, r.Timers.WalkInterval))
	}
	return out
}

func followed(ss []CopySample) int {
	if len(ss) == 0 {
		return 0
	}
	return ss[0].Files
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// Markdown is the report as a page.
func (r *Report) Markdown(command string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	verdict := "kept every promise"
	if f := r.Failures(); len(f) > 0 {
		verdict = "BROKE " + strings.Join(f, "; ")
	}
	p("# Testnet chaos run: %s", verdict)
	p("")
	p("`%s`: %d `cairn daemon` processes, each in its own network namespace on a bridge (10.77.0.0/16),", command, r.Nodes)
	p("each repo on its own tmpfs; seed %d, a schedule of %v, R = %d, so at most %d nodes under a fault at once.", r.Seed, r.Length, r.R, r.R-1)
	p("Run at %s.", r.Start.UTC().Format(time.RFC3339))
	p("")
	p("Timers the harness sets: grace delay %v, walk interval %v, status interval %v, scrub interval %v; a connected", r.Timers.GraceDelay, r.Timers.WalkInterval, r.Timers.StatusInterval, r.Timers.ScrubInterval)
	p("peer is pinged every %v and counted down after %v without an answer.", node.ProbeEvery(r.Timers.GraceDelay), node.SilentAfter(node.ProbeEvery(r.Timers.GraceDelay)))
	p("")
	p("## Results")
	p("")
	p("| check | result |")
	p("|---|---|")
	p("| acknowledged files (and folder entries) | %d, %.1f MiB |", r.Files, float64(r.Bytes)/(1<<20))
	p("| lost: acknowledged reads that did not come back from every node after healing | %d |", len(r.Lost))
	p("| daemon crashes (unasked-for exits, panics in logs) | %d |", len(r.Crashes))
	rec := "not within " + (3 * r.Bound).String()
	if r.Recovery >= 0 {
		rec = r.Recovery.Round(time.Second).String()
	}
	p("| every chunk back at %d live copies, after the last fault | %s (bound %v) |", r.R, rec, r.Bound)
	if r.FreezeNode >= 0 {
		p("| after the %v freeze of node %d: the longest stretch its files had a block above R+2 replicas | %v, after it resumed (a walk is %v; %d files followed) |", r.Plan[0].For, r.FreezeNode, r.AboveSlackFor.Round(time.Second), r.Timers.WalkInterval, followed(r.FrozenCopies))
	}
	p("| files never read with a block on more than R+2 nodes besides its adder (whose copy is pinned there), two walks after recovery (a check of thrift, not of the promise) | %d |", len(r.Surplus))
	p("| adds through a node while its disk was full | %s |", counts(r.FullAdds))
	for n, s := range r.AddAfterFull {
		p("| an add through node %d once its disk was freed | %s |", n, s)
	}
	p("| connections or routes outside 10.77.0.0/16 | %d |", len(r.Foreign))
	p("| adds during the run | %s |", counts(r.AddOutcomes))
	p("| reads during the run | %s |", counts(r.ReadOutcomes))
	p("| latency of successful reads | p50 %s, p90 %s, p99 %s, max %s |", ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max))
	p("")
	p("![live copies over time](copies.svg)")
	p("")
	p("![read latency over time](latency.svg)")
	p("")
	p("## Faults as applied")
	p("")
	p("| from | to | fault | nodes | note |")
	p("|---|---|---|---|---|")
	for _, a := range r.Applied {
		ns := make([]string, len(a.Nodes))
		for i, n := range a.Nodes {
			ns[i] = fmt.Sprint(n)
		}
		p("| %v | %v | %s | %s | %s |", a.Start.Sub(r.Start).Round(time.Second), a.End.Sub(r.Start).Round(time.Second), a.Kind, strings.Join(ns, ", "), a.Note)
	}
	details := slices.Concat(r.Lost, r.Crashes, r.Foreign, r.Surplus)
	seen := map[string]bool{}
	for _, a := range r.Adds {
		if a.Err != "" && !seen[a.Err] && len(seen) < 5 {
			seen[a.Err] = true
			details = append(details, fmt.Sprintf("an add through node %d at %v: %s", a.Node, a.At.Sub(r.Start).Round(time.Second), a.Err))
		}
	}
	if r.Recovery < 0 {
		details = append(details, r.Below...)
	}
	if len(details) > 0 {
		p("")
		p("## Details")
		for _, l := range details[:min(len(details), 50)] {
			p("- %s", l)
		}
		if len(details) > 50 {
			p("- and %d more", len(details)-50)
		}
	}
	return b.String()
}

// Write writes the report and its plots into dir.
func (r *Report) Write(dir, command string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := r.plotCopies(filepath.Join(dir, "copies.svg")); err != nil {
		return err
	}
	if err := r.plotLatency(filepath.Join(dir, "latency.svg")); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("seconds,series,files,least,most\n")
	for _, set := range []struct {
		name string
		ss   []CopySample
	}{{"sampled", r.Copies}, {"frozen-node", r.FrozenCopies}} {
		for _, s := range set.ss {
			fmt.Fprintf(&csv, "%.1f,%s,%d,%d,%d\n", s.At.Sub(r.Start).Seconds(), set.name, s.Files, s.Least, s.Most)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "copies.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(r.Markdown(command)), 0o644)
}
