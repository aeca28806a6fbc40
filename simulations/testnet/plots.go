package testnet

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	red    = color.RGBA{R: 200, G: 40, B: 40, A: 255}
	shade  = map[Kind]color.Color{
		Freeze: color.RGBA{R: 120, G: 160, B: 230, A: 60}, Kill: color.RGBA{R: 230, G: 90, B: 90, A: 60},
		Partition: color.RGBA{R: 240, G: 180, B: 60, A: 60}, Isolate: color.RGBA{R: 200, G: 120, B: 40, A: 60},
		DiskFull: color.RGBA{R: 150, G: 90, B: 200, A: 60}, Bitrot: color.RGBA{R: 90, G: 180, B: 90, A: 60},
		Loss: color.RGBA{R: 60, G: 60, B: 60, A: 70},
	}
)

// shadeFaults draws each applied fault as a band over [lo, hi], and adds
// one legend entry per kind.
func (r *Report) shadeFaults(p *plot.Plot, lo, hi float64) error {
	legend := map[Kind]bool{}
	for _, a := range r.Applied {
		x0, x1 := a.Start.Sub(r.Start).Seconds(), a.End.Sub(r.Start).Seconds()
		if x1 <= x0 {
			continue
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: lo}, {X: x1, Y: lo}, {X: x1, Y: hi}, {X: x0, Y: hi}})
		if err != nil {
			return fmt.Errorf("report: shade %s: %w", a.Kind, err)
		}
		poly.Color = shade[a.Kind]
		poly.LineStyle.Width = 0
		p.Add(poly)
		if !legend[a.Kind] {
			legend[a.Kind] = true
			p.Legend.Add(string(a.Kind), poly)
		}
	}
	return nil
}

func (r *Report) plotCopies(file string) error {
	p := plot.New()
	p.Title.Text = "Live copies of sampled acknowledged files, faults shaded"
	p.X.Label.Text = "seconds since the schedule began"
	p.Y.Label.Text = "live copies"
	top := float64(r.R + 3)
	for _, s := range r.Copies {
		top = max(top, float64(s.Most)+1)
	}
	p.Y.Min, p.Y.Max = 0, top
	if err := r.shadeFaults(p, 0, top); err != nil {
		return err
	}
	least, most := plotter.XYs{}, plotter.XYs{}
	for _, s := range r.Copies {
		x := s.At.Sub(r.Start).Seconds()
		least = append(least, plotter.XY{X: x, Y: float64(s.Least)})
		most = append(most, plotter.XY{X: x, Y: float64(s.Most)})
	}
	for _, l := range []struct {
		name string
		pts  plotter.XYs
		c    color.Color
	}{{"fewest copies of any block", least, red}, {"most replicas of any block of a file never read (adder's pinned copy aside)", most, blue}} {
		if len(l.pts) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return fmt.Errorf("report: plot copies: %w", err)
		}
		line.Color, pts.Color, pts.Shape = l.c, l.c, draw.CircleGlyph{}
		p.Add(line, pts)
		p.Legend.Add(l.name, line)
	}
	rline := plotter.NewFunction(func(float64) float64 { return float64(r.R) })
	rline.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(rline)
	p.Legend.Add(fmt.Sprintf("R = %d", r.R), rline)
	p.Legend.Top = true
	return p.Save(10*vg.Inch, 4*vg.Inch, file)
}

func (r *Report) plotLatency(file string) error {
	p := plot.New()
	p.Title.Text = "Reads during the run: latency, faults shaded"
	p.X.Label.Text = "seconds since the schedule began"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	ok, failed := plotter.XYs{}, plotter.XYs{}
	hi := 1.0
	for _, x := range r.Reads {
		pt := plotter.XY{X: x.At.Sub(r.Start).Seconds(), Y: max(float64(x.Latency)/float64(time.Millisecond), 0.1)}
		hi = max(hi, pt.Y)
		if x.Outcome == "ok" {
			ok = append(ok, pt)
		} else {
			failed = append(failed, pt)
		}
	}
	if err := r.shadeFaults(p, 0.1, hi*1.5); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		pts  plotter.XYs
		c    color.Color
	}{{"read ok", ok, blue}, {"read failed", failed, orange}} {
		if len(s.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.pts)
		if err != nil {
			return fmt.Errorf("report: plot latency: %w", err)
		}
		sc.Color, sc.Shape, sc.Radius = s.c, draw.CircleGlyph{}, vg.Points(1.5)
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	p.Legend.Top = true
	return p.Save(10*vg.Inch, 4*vg.Inch, file)
}
