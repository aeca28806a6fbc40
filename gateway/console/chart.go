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
	Under     string // polyline points of chunks below R
	Bars      []bar  // repair traffic per sample
	MaxUnder  int64  // the left axis' top
	MaxPushed int64  // the right axis' top, bytes per sample
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
	for _, s := range samples {
		if s.At.Before(from) {
			continue
		}
		fmt.Fprintf(&pts, "%s,%s ", num(x(s.At)), num(y(s.Under, c.MaxUnder)))
		if s.Pushed > 0 {
			top := y(s.Pushed, c.MaxPushed)
			c.Bars = append(c.Bars, bar{X: x(s.At) - barW, Y: top, W: barW, H: float64(chartH) - chartPad - top})
		}
	}
	c.Under = strings.TrimSpace(pts.String())
	for m := span; m >= 0; m -= span / 4 {
		label := "now"
		if m > 0 {
			label = "-" + strconv.Itoa(int(m.Minutes())) + "m"
		}
		c.Ticks = append(c.Ticks, tick{X: x(now.Add(-m)), Label: label})
		if span/4 == 0 {
			break
		}
	}
	return c
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
