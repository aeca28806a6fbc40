package model

import (
	"errors"
	"fmt"
	"math"
)

// FitLog2 fits hops = a·log2(N) + b to points by least squares and returns
// a, b and the coefficient of determination r² (1 when the points lie on
// the line, including the case where every point has the same hops). It
// needs two or more points with at least two distinct N, each N ≥ 1 and
// finite hops.
func FitLog2(points []Point) (a, b, r2 float64, err error) {
	if len(points) < 2 {
		return 0, 0, 0, fmt.Errorf("fit log2: %d points: want at least 2", len(points))
	}
	var sx, sy float64
	for _, p := range points {
		if p.N < 1 || math.IsNaN(p.Hops) || math.IsInf(p.Hops, 0) {
			return 0, 0, 0, fmt.Errorf("fit log2: bad point (N=%d, hops=%v)", p.N, p.Hops)
		}
		sx += math.Log2(float64(p.N))
		sy += p.Hops
	}
	n := float64(len(points))
	mx, my := sx/n, sy/n
	// Centred sums: the textbook n·Σxy − Σx·Σy loses digits to
	// cancellation when log2(N) varies little against its mean.
	var sxx, sxy, syy float64
	for _, p := range points {
		dx, dy := math.Log2(float64(p.N))-mx, p.Hops-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return 0, 0, 0, errors.New("fit log2: all points have the same N")
	}
	a = sxy / sxx
	b = my - a*mx
	var ssRes float64
	for _, p := range points {
		e := p.Hops - (a*math.Log2(float64(p.N)) + b)
		ssRes += e * e
	}
	if syy == 0 {
		return a, b, 1, nil // flat data, fitted exactly by a = 0
	}
	return a, b, 1 - ssRes/syy, nil
}
