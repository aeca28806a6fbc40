package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// chart is the overview's plot of the last hour as SVG shapes, worked out
// here so the page draws it without JavaScript and tests read it as data.
type chart struct {
	W, H      int
	Under     []string // polylines of chunks below R, broken at gaps
	Bars      []bar    // repair traffic per sample
	MaxUnder  int64    // the left axis' top
	MaxPushed int64    // the right axis' top, bytes per sample
	Ticks     []tick
	Samples   int
}

type bar struct{ X, Y, W, H float64 }

type tick struct {
	X     float64
	Label string
}

const (
	chartW, chartH = 1100, 180
	chartPad       = 4.0
)

// plot lays out the samples of [now-span, now].
func plot(samples []Sample, now time.Time, span, every time.Duration) chart {
	c := chart{W: chartW, H: chartH, Samples: len(samples)}
	for _, s := range samples {
		c.MaxUnder = max(c.MaxUnder, s.Under)
		c.MaxPushed = max(c.MaxPushed, s.Pushed)
	}
	from := now.Add(-span)
	inner := float64(chartW) - 2*chartPad
	x := func(t time.Time) float64 {
		return chartPad + inner*float64(t.Sub(from))/float64(span)
	}
	y := func(v, top int64) float64 {
		h := float64(chartH) - 2*chartPad
		if top <= 0 {
			return chartPad + h
		}
		return chartPad + h*(1-float64(v)/float64(top))
	}
	barW := max(inner*float64(every)/float64(span), 1)
	var pts strings.Builder
	line := func() {
		if pts.Len() > 0 {
			c.Under = append(c.Under, strings.TrimSpace(pts.String()))
			pts.Reset()
		}
	}
	for _, s := range samples {
		if s.At.Before(from) {
			continue
		}
		if s.Gap {
			line()
		}
		fmt.Fprintf(&pts, "%s,%s ", num(x(s.At)), num(y(s.Under, c.MaxUnder)))
		if s.Pushed > 0 {
			top := y(s.Pushed, c.MaxPushed)
			left := max(x(s.At)-barW, chartPad)
			c.Bars = append(c.Bars, bar{X: left, Y: top, W: x(s.At) - left, H: float64(chartH) - chartPad - top})
		}
	}
	line()
	for i := range 5 {
		back := span - span*time.Duration(i)/4
		c.Ticks = append(c.Ticks, tick{X: x(now.Add(-back)), Label: ago(now, now.Add(-back))})
	}
	c.Ticks[4].Label = "now"
	return c
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
