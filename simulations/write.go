package simulations

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnstore/cairn/simulations/model"
)

// Plot files the report links to.
const (
	hopsPlot  = "hops-vs-n.svg"
	churnPlot = "churn-live-copies.svg"
)

// Write writes the report (README.md and its SVG plots) into dir.
func (r *Report) Write(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if r.Lookup != nil || r.Model != nil {
		if err := plotHops(filepath.Join(dir, hopsPlot), r.Lookup, r.Model); err != nil {
			return err
		}
	}
	if r.Churn != nil {
		if err := plotChurn(filepath.Join(dir, churnPlot), r.Churn); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	r.markdown(&b)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func (r *Report) markdown(b *bytes.Buffer) {
	variant := "the small variants (go test -short ./simulations -report DIR)"
	if r.Full {
		variant = "`make sim`, the full scenarios,"
	}
	fmt.Fprintf(b, "# cairn simulations\n\n")
	fmt.Fprintf(b, "Written by %s on %s, seed %d. Every figure below was measured in that run by\n", variant, r.Date, r.Seed)
	fmt.Fprintf(b, "the code in `simulations/`: real `node.Node`s (DHT, block exchange, repair) on libp2p's mocknet in\n")
	fmt.Fprintf(b, "one process, and the model in `simulations/model` for sizes no one machine can run. The run took\n")
	fmt.Fprintf(b, "%s on this 2-core machine, with a peak resident memory of %d MiB.\n\n", round(r.Took), r.MaxRSS>>20)
	if r.Lookup != nil || r.Model != nil {
		r.lookupSection(b)
	}
	if r.Churn != nil {
		r.churnSection(b)
	}
	if r.Partition != nil {
		p := r.Partition
		fmt.Fprintf(b, "## Partition\n\n")
		fmt.Fprintf(b, "%d nodes split into two halves; %d files written before the split, %d on one side and %d on the other while\n", p.Nodes, p.Before, p.SideA, p.SideB)
		fmt.Fprintf(b, "it lasted. After healing, every block was back at 3 live copies in %s and every file read back whole\n", round(p.Converged))
		fmt.Fprintf(b, "from nodes of both sides. **Acknowledged files lost: %d.**\n\n", p.Lost)
	}
	if r.Bitrot != nil {
		br := r.Bitrot
		fmt.Fprintf(b, "## Bitrot\n\n")
		fmt.Fprintf(b, "%d nodes, %d files; %d stored block copies corrupted on disk behind the stores' backs (a flipped\n", br.Nodes, br.Files, br.Corrupted)
		fmt.Fprintf(b, "byte each). The scrubbers found %d, and %d of %d were replaced by good copies fetched from other nodes\n", br.Detected, br.Repaired, br.Corrupted)
		fmt.Fprintf(b, "within %s; every store then verified clean.\n\n", round(br.Took))
	}
	if r.Churn != nil {
		r.durabilitySection(b)
	}
}

func (r *Report) lookupSection(b *bytes.Buffer) {
	fmt.Fprintf(b, "## Lookup cost against network size\n\n![hops against N](%s)\n\n", hopsPlot)
	if l := r.Lookup; l != nil {
		fmt.Fprintf(b, "**Real nodes.** FindProviders for random keys, each provided by a random node and looked up from another.\n")
		fmt.Fprintf(b, "Hops are the longest chain of referrals followed when the provider arrived (`dht.LookupStats`).\n")
		fmt.Fprintf(b, "The scenario runs the DHT with bucket size k = %d and alpha = %d, not cairn's 20 and 10: at a few hundred\n", l.BucketSize, l.Alpha)
		fmt.Fprintf(b, "nodes a k of 20 makes the network one or two hops wide whatever its size, and alpha 10's parallel\n")
		fmt.Fprintf(b, "queries blur the hop count (k=4, alpha 10 gave medians of 2, 2, 2 at N = 16, 32, 64). kad-dht's liveness\n")
		fmt.Fprintf(b, "checks of new connections are limited to one at a time per node: with k=2 every routing table sits\n")
		fmt.Fprintf(b, "under kad-dht's low-peer threshold and the checks otherwise flood the network.\n\n")
		fmt.Fprintf(b, "A lookup that ends without the provider counts as missed and stays out of the hop and RPC figures: with k = 2\n")
		fmt.Fprintf(b, "a provide and a lookup can settle on different local minima of the XOR distance, a risk that cairn's k = 20 makes far smaller.\n\n")
		fmt.Fprintf(b, "The last two columns are the model (below) run at the same k, alpha and sizes, as a check of it.\n\n")
		fmt.Fprintf(b, "| N | lookups | missed | hops median | hops p95 | hops mean | RPCs median | RPCs p95 | routing table | model hops median | model hops mean |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range l.Rows {
			mMed, mMean := "", ""
			if r.Model != nil {
				for _, s := range r.Model.AtLookupSettings.Sizes {
					if s.N == row.N {
						mMed, mMean = fmt.Sprintf("%.1f", s.Hops.Median), fmt.Sprintf("%.2f", s.Hops.Mean)
					}
				}
			}
			fmt.Fprintf(b, "| %d | %d | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %s | %s |\n", row.N, row.Lookups, row.Missed, row.Hops.Median, row.Hops.P95, row.Hops.Mean, row.RPCs.Median, row.RPCs.P95, row.TableSize, mMed, mMean)
		}
		fmt.Fprintf(b, "\nFit: median hops = %.2f·log2(N) %+.2f (r² %.2f).\n\n", l.A, l.B, l.R2)
	}
	if m := r.Model; m != nil {
		c := m.Result.Config
		fmt.Fprintf(b, "**Model.** kad-dht's iterative lookup replayed over converged routing tables built the way\n")
		fmt.Fprintf(b, "go-libp2p-kbucket builds them (checked against it at small N), no sockets: k = %d, alpha = %d, beta = %d,\n", c.K, c.Alpha, c.Beta)
		fmt.Fprintf(b, "%d lookups per size, %s for the whole sweep.\n\n", c.LookupsPerSize, round(m.Took))
		fmt.Fprintf(b, "| N | hops median | hops p95 | hops mean | RPCs median | RPCs p95 | routing table |\n|---|---|---|---|---|---|---|\n")
		for _, s := range m.Result.Sizes {
			fmt.Fprintf(b, "| %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f |\n", s.N, s.Hops.Median, s.Hops.P95, s.Hops.Mean, s.RPCs.Median, s.RPCs.P95, s.TableSize)
		}
		fmt.Fprintf(b, "\nFit over N = 1,000 … 100,000: median hops = %.3f·log2(N) %+.3f (r² %.2f; hop counts are whole\n", m.A, m.B, m.R2)
		fmt.Fprintf(b, "numbers, so the median moves in steps; the mean is the smoother curve in the plot).\n\n")
	}
}

func (r *Report) churnSection(b *bytes.Buffer) {
	c := r.Churn
	fmt.Fprintf(b, "## Churn\n\n![live copies over time](%s)\n\n", churnPlot)
	fmt.Fprintf(b, "%d nodes to start with; for %s one node died without warning (no drain, its disk gone) every %s and a\n", c.StartNodes, round(c.Duration), round(c.KillEvery))
	fmt.Fprintf(b, "new one joined, while files were written and read: %d nodes killed, %d joined, %d files written (%d\n", c.Killed, c.Joined, c.Files, c.Acked)
	fmt.Fprintf(b, "acknowledged with the write quorum), %d reads during churn (%d failed). Repair settings: grace %s,\n", c.Reads, c.Failed, round(c.GraceDelay))
	fmt.Fprintf(b, "walk interval %s. The plot shows the fewest live copies of any acknowledged block, read off the stores.\n\n", round(c.Interval))
	fmt.Fprintf(b, "- Lowest live copy count of any acknowledged block during the run: **%d**\n", c.MinLive)
	fmt.Fprintf(b, "- Time from a death to every block back at 3 copies: median %s, max %s\n", secs(c.Repair.Median), secs(c.Repair.Max))
	fmt.Fprintf(b, "- After churn stopped, every block had 3 live copies within %s\n", round(c.Converged))
	fmt.Fprintf(b, "- **Acknowledged files lost: %d** (each was read back whole at the end)\n\n", c.Lost)
}

// durabilitySection sets the loss probabilities the measured repair time
// implies beside the closed form for many objects.
func (r *Report) durabilitySection(b *bytes.Buffer) {
	const afr = 0.02 // a disk's annual failure rate, typical of fleet statistics
	measured := time.Duration(r.Churn.Repair.Max * float64(time.Second))
	if measured <= 0 {
		measured = r.Churn.Converged
	}
	// With cairn's default settings a death is noticed after the 2 minute
	// grace delay and repaired at the next walk, at most 10 minutes on.
	defaults := 12*time.Minute + measured
	fmt.Fprintf(b, "## Durability estimate\n\n")
	fmt.Fprintf(b, "Independent node failures at an annual failure rate of %.0f%%; an object is lost when all R holders fail\n", afr*100)
	fmt.Fprintf(b, "within one repair window T (the first failure, then the other R−1 before repair). p is the loss\n")
	fmt.Fprintf(b, "probability of one object in a year; 1−(1−p)^I that of losing any of I objects.\n\n")
	fmt.Fprintf(b, "| R | repair window T | p (one object, one year) | I = 10^6 | I = 10^12 |\n|---|---|---|---|---|\n")
	for _, T := range []struct {
		name string
		d    time.Duration
	}{{"measured here: " + round(measured).String(), measured}, {"cairn defaults: " + round(defaults).String(), defaults}} {
		for _, R := range []int{2, 3} {
			p, err := model.AnnualLossProbability(R, afr, T.d)
			if err != nil {
				fmt.Fprintf(b, "| %d | %s | error: %v | | |\n", R, T.name, err)
				continue
			}
			i6, _ := model.AnyLoss(p, 1e6)
			i12, _ := model.AnyLoss(p, 1e12)
			fmt.Fprintf(b, "| %d | %s | %.3g | %.3g | %.3g |\n", R, T.name, p, i6, i12)
		}
	}
	fmt.Fprintf(b, "\nThe measured window is the slowest repair seen in the churn run, with its short grace delay and walk\n")
	fmt.Fprintf(b, "interval; the default window adds cairn's default grace delay (2m) and walk interval (10m).\n")
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

func secs(s float64) time.Duration {
	if math.IsNaN(s) {
		return 0
	}
	return round(time.Duration(s * float64(time.Second)))
}
