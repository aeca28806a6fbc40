package console

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/gateway"
)

func status(nodes ...gateway.NodeStatus) gateway.ClusterStatus {
	return gateway.ClusterStatus{Nodes: nodes}
}

func TestHistoryCountsLiveNodesAndPushDeltas(t *testing.T) {
	h := NewHistory(10, 10*time.Second)
	t0 := time.Unix(1000, 0)
	h.Observe(t0, status(
		gateway.NodeStatus{State: "up", UnderReplicated: 3, Repairing: 2},
		gateway.NodeStatus{State: "draining", UnderReplicated: 1},
		gateway.NodeStatus{State: "down", UnderReplicated: 50}, // stale: not counted
	), gateway.Metrics{ReplicationBytes: 4000})
	h.Observe(t0.Add(10*time.Second), status(), gateway.Metrics{ReplicationBytes: 4500})
	h.Observe(t0.Add(20*time.Second), status(), gateway.Metrics{ReplicationBytes: 100}) // the counter restarted
	got := h.Since(t0)
	want := []struct{ under, repairing, pushed int64 }{{4, 2, 0}, {0, 0, 500}, {0, 0, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Under != w.under || got[i].Repairing != w.repairing || got[i].Pushed != w.pushed {
			t.Errorf("sample %d: %+v, want under %d repairing %d pushed %d", i, got[i], w.under, w.repairing, w.pushed)
		}
	}
}

// A sample taken after missed ones marks a gap, and its pushes are spread
// over the time since the last: the chart neither joins across the gap
// nor draws a taller bar for it.
func TestALateSampleMarksAGapAndSpreadsItsPushes(t *testing.T) {
	every := 10 * time.Second
	h := NewHistory(10, every)
	t0 := time.Unix(1000, 0)
	h.Observe(t0, status(), gateway.Metrics{ReplicationBytes: 0})
	h.Observe(t0.Add(every), status(), gateway.Metrics{ReplicationBytes: 1000})
	h.Observe(t0.Add(5*every), status(), gateway.Metrics{ReplicationBytes: 5000}) // three missed
	got := h.Since(t0)
	if got[1].Gap || got[1].Pushed != 1000 {
		t.Errorf("on time: %+v, want no gap and 1000 pushed", got[1])
	}
	if !got[2].Gap || got[2].Pushed != 1000 {
		t.Errorf("late: %+v, want a gap and 1000 per interval", got[2])
	}
	c := plot(got, t0.Add(5*every), time.Hour, every)
	if len(c.Under) != 2 {
		t.Errorf("%d lines, want the line broken in two at the gap", len(c.Under))
	}
}

func TestHistoryForgetsTheOldestWhenFull(t *testing.T) {
	h := NewHistory(3, time.Second)
	t0 := time.Unix(0, 0)
	for i := range 5 {
		h.Add(Sample{At: t0.Add(time.Duration(i) * time.Second), Under: int64(i)})
	}
	var unders []string
	for _, s := range h.Since(t0) {
		unders = append(unders, strconv.FormatInt(s.Under, 10))
	}
	if got := strings.Join(unders, ","); got != "2,3,4" {
		t.Fatalf("kept %s, want the last three 2,3,4", got)
	}
	if got := len(h.Since(t0.Add(4 * time.Second))); got != 1 {
		t.Fatalf("Since the last sample's time: %d samples, want 1", got)
	}
}

func TestPlotScalesSamplesIntoTheChart(t *testing.T) {
	now := time.Unix(10_000, 0)
	span, every := time.Hour, 10*time.Second
	var samples []Sample
	for i := range 360 {
		s := Sample{At: now.Add(-span + time.Duration(i+1)*every), Under: int64(i % 7)}
		if i%60 == 0 {
			s.Pushed = int64(1000 * (i/60 + 1))
		}
		samples = append(samples, s)
	}
	c := plot(samples, now, span, every)
	if c.MaxUnder != 6 || c.MaxPushed != 6000 || c.Samples != 360 {
		t.Fatalf("scale tops under %d pushed %d over %d samples, want 6, 6000, 360", c.MaxUnder, c.MaxPushed, c.Samples)
	}
	if len(c.Under) != 1 {
		t.Fatalf("%d lines, want one (no gaps)", len(c.Under))
	}
	pts := strings.Fields(c.Under[0])
	if len(pts) != 360 {
		t.Fatalf("%d points, want 360", len(pts))
	}
	top, bottom := chartPad, float64(chartH)-chartPad
	for _, p := range pts {
		var x, y float64
		if _, err := fmt.Sscanf(p, "%g,%g", &x, &y); err != nil {
			t.Fatalf("point %q: %v", p, err)
		}
		if x < chartPad || x > float64(chartW)-chartPad || y < top || y > bottom {
			t.Fatalf("point %q is outside the plot area", p)
		}
	}
	if len(c.Bars) != 6 {
		t.Fatalf("%d bars, want one per sample with pushes, 6", len(c.Bars))
	}
	if last := c.Bars[5]; last.Y != top || last.Y+last.H != bottom {
		t.Errorf("the largest push's bar spans %v to %v, want the full height %v to %v", last.Y, last.Y+last.H, top, bottom)
	}
	if len(c.Ticks) != 5 || c.Ticks[0].Label != "1h ago" || c.Ticks[1].Label != "45m ago" || c.Ticks[4].Label != "now" {
		t.Errorf("ticks %+v", c.Ticks)
	}
}

func TestPlotOfNoSamplesIsEmpty(t *testing.T) {
	c := plot(nil, time.Unix(0, 0), time.Hour, 10*time.Second)
	if len(c.Under) != 0 || len(c.Bars) != 0 || c.Samples != 0 {
		t.Fatalf("plot of nothing: %+v", c)
	}
}

func TestNewestKeepsTheNewestPinsInBoundedSpace(t *testing.T) {
	var h newest
	t0 := time.Unix(0, 0)
	for _, i := range []int{5, 1, 9, 3, 7, 8, 2} {
		h.offer(gateway.PinInfo{CID: strconv.Itoa(i), At: t0.Add(time.Duration(i) * time.Minute)}, 3)
	}
	var kept []string
	for h.Len() > 0 {
		kept = append(kept, popOldest(&h).CID)
	}
	if got := strings.Join(kept, ","); got != "7,8,9" {
		t.Fatalf("kept %s, want the three newest 7,8,9", got)
	}
}

func popOldest(h *newest) gateway.PinInfo {
	oldest := 0
	for i := range *h {
		if older((*h)[i], (*h)[oldest]) {
			oldest = i
		}
	}
	p := (*h)[oldest]
	*h = append((*h)[:oldest], (*h)[oldest+1:]...)
	return p
}

func TestMatchesNameOrCIDCaseInsensitively(t *testing.T) {
	p := gateway.PinInfo{Name: "Holiday Photos", CID: "bafyabc"}
	// pinList lowers the query; the name is lowered here.
	for q, want := range map[string]bool{"": true, "holiday": true, "photos": true, "bafyab": true, "xyz": false} {
		if got := matches(p, q); got != want {
			t.Errorf("matches(%q) = %v, want %v", q, got, want)
		}
	}
}
