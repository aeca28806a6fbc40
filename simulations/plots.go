package simulations

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	grey   = color.RGBA{R: 120, G: 120, B: 120, A: 255}
	green  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
)

// series adds a line with points to p.
func series(p *plot.Plot, name string, pts plotter.XYs, c color.Color, dashed bool, shape draw.GlyphDrawer) error {
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return fmt.Errorf("report: plot %s: %w", name, err)
	}
	l.Color = c
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	s.Color = c
	s.Shape = shape
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// fitLine draws hops = a·log2(N) + b over [lo, hi].
func fitLine(p *plot.Plot, name string, a, b float64, lo, hi int, c color.Color) {
	f := plotter.NewFunction(func(n float64) float64 { return a*math.Log2(n) + b })
	f.XMin, f.XMax = float64(lo), float64(hi)
	f.Color = c
	f.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
	f.Samples = 100
	p.Add(f)
	p.Legend.Add(name, f)
}

// plotHops draws median (and mean) hops against N on a log axis, for the
// real-node scenario and the model, with their fits.
func plotHops(file string, l *LookupResult, m *ModelResult) error {
	p := plot.New()
	p.Title.Text = "DHT lookup hops against network size"
	p.X.Label.Text = "nodes N (log scale)"
	p.Y.Label.Text = "hops"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	if l != nil && len(l.Rows) > 0 {
		med, mean := make(plotter.XYs, len(l.Rows)), make(plotter.XYs, len(l.Rows))
		for i, r := range l.Rows {
			med[i] = plotter.XY{X: float64(r.N), Y: r.Hops.Median}
			mean[i] = plotter.XY{X: float64(r.N), Y: r.Hops.Mean}
		}
		if err := series(p, fmt.Sprintf("real nodes (k=%d), median", l.BucketSize), med, blue, false, draw.CircleGlyph{}); err != nil {
			return err
		}
		if err := series(p, fmt.Sprintf("real nodes (k=%d), mean", l.BucketSize), mean, blue, true, draw.RingGlyph{}); err != nil {
			return err
		}
		fitLine(p, fmt.Sprintf("fit %.2f·log2 N %+.2f", l.A, l.B), l.A, l.B, l.Rows[0].N, l.Rows[len(l.Rows)-1].N, blue)
	}
	if m != nil && len(m.AtLookupSettings.Sizes) > 0 {
		sz := m.AtLookupSettings.Sizes
		med := make(plotter.XYs, len(sz))
		for i, s := range sz {
			med[i] = plotter.XY{X: float64(s.N), Y: s.Hops.Median}
		}
		if err := series(p, fmt.Sprintf("model at the real nodes' k=%d, median", m.AtLookupSettings.Config.K), med, green, false, draw.TriangleGlyph{}); err != nil {
			return err
		}
	}
	if m != nil && len(m.Result.Sizes) > 0 {
		sz := m.Result.Sizes
		med, mean := make(plotter.XYs, len(sz)), make(plotter.XYs, len(sz))
		for i, s := range sz {
			med[i] = plotter.XY{X: float64(s.N), Y: s.Hops.Median}
			mean[i] = plotter.XY{X: float64(s.N), Y: s.Hops.Mean}
		}
		k := m.Result.Config.K
		if err := series(p, fmt.Sprintf("model (k=%d), median", k), med, orange, false, draw.SquareGlyph{}); err != nil {
			return err
		}
		if err := series(p, fmt.Sprintf("model (k=%d), mean", k), mean, orange, true, draw.BoxGlyph{}); err != nil {
			return err
		}
		fitLine(p, fmt.Sprintf("fit %.2f·log2 N %+.2f", m.A, m.B), m.A, m.B, sz[0].N, sz[len(sz)-1].N, orange)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, file); err != nil {
		return fmt.Errorf("report: save %s: %w", file, err)
	}
	return nil
}

// plotChurn draws the fewest live copies of any acknowledged block, and
// the number of live nodes, over the churn run.
func plotChurn(file string, c *ChurnResult) error {
	p := plot.New()
	p.Title.Text = "Churn: fewest live copies of any acknowledged block"
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "live copies"
	p.Legend.Top = true
	p.Y.Min = 0
	pts := make(plotter.XYs, len(c.Samples))
	for i, s := range c.Samples {
		pts[i] = plotter.XY{X: s.At.Seconds(), Y: float64(s.MinLive)}
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("report: plot churn: %w", err)
	}
	l.Color = blue
	l.StepStyle = plotter.PostStep
	p.Add(l)
	p.Legend.Add("fewest live copies", l)
	target := plotter.NewFunction(func(float64) float64 { return 3 })
	target.Color = grey
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(target)
	p.Legend.Add("R = 3", target)
	if c.Duration > 0 {
		stop := plotter.XYs{{X: c.Duration.Seconds(), Y: 0}, {X: c.Duration.Seconds(), Y: 5}}
		sl, err := plotter.NewLine(stop)
		if err == nil {
			sl.Color = orange
			sl.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(sl)
			p.Legend.Add("churn stops", sl)
		}
	}
	p.Y.Max = 6
	if err := p.Save(8*vg.Inch, 4*vg.Inch, file); err != nil {
		return fmt.Errorf("report: save %s: %w", file, err)
	}
	return nil
}
