package model

import (
	"fmt"
	"math"
	"time"
)

// Durability estimates. An object is kept as r copies on r distinct nodes.
// Assumptions, all of which favour simplicity over realism:
//
//   - Node lifetimes are independent and exponential with a constant
//     hazard λ (per hour): no correlated failures (shared racks, power,
//     software bugs, operators), no ageing, no infant mortality.
//   - A failed node's data is gone; nothing comes back from a repaired
//     disk. When a holder fails the network makes a new copy, and the
//     object is back to r copies exactly T after that failure (T is the
//     repair time the churn simulation measures).
//   - The object is lost when, after some holder fails, the other r−1
//     holders all fail before that copy is restored, i.e. within T. The
//     probability of that, given the first failure, is
//
//	q = (1 − e^(−λT))^(r−1)
//
//     Holders fail at a total rate of r·λ (a failed holder is replaced, so
//     there are always r), each failure opening such a window, so losses
//     come at rate r·λ·q and the probability of losing the object within
//     a horizon H is
//
//	p = 1 − exp(−r·λ·H·q)
//
//     Counting every failure as the start of a window slightly overcounts
//     when windows overlap, which errs towards loss: p is a mild upper
//     bound under these assumptions. For r = 1 it is the chance the single
//     holder fails within H (the annual failure rate, for a year).
//   - For I objects, losses are taken as independent: 1 − (1 − p)^I. Real
//     objects share holders, so their losses are correlated and this is
//     the expected-value view (I·p objects lost on average), not a bound.

// HoursPerYear is a Julian year, 365.25 days.
const HoursPerYear = 365.25 * 24

// Year is HoursPerYear as a duration.
const Year = time.Duration(HoursPerYear) * time.Hour

// HazardFromAFR converts an annual failure rate (the probability a node
// fails within a year, in [0, 1)) to the per-hour hazard λ of an
// exponential lifetime with that rate: λ = −ln(1 − AFR) / 8766.
func HazardFromAFR(afr float64) (float64, error) {
	if !(afr >= 0 && afr < 1) {
		return 0, fmt.Errorf("annual failure rate %v: want [0, 1)", afr)
	}
	return -math.Log1p(-afr) / HoursPerYear, nil
}

// WindowLoss returns q, the probability that the other r−1 holders all
// fail within repair of one holder's failure: (1 − e^(−λT))^(r−1).
func WindowLoss(r int, hazardPerHour float64, repair time.Duration) (float64, error) {
	if err := checkLossArgs(r, hazardPerHour, repair); err != nil {
		return 0, err
	}
	// −expm1 keeps 1 − e^(−x) exact for the tiny λT of short repairs.
	one := -math.Expm1(-hazardPerHour * repair.Hours())
	return math.Pow(one, float64(r-1)), nil
}

// LossProbability returns p, the probability that an object with r copies
// loses them all within horizon: 1 − exp(−r·λ·H·q), q as in WindowLoss.
func LossProbability(r int, hazardPerHour float64, repair, horizon time.Duration) (float64, error) {
	if horizon < 0 {
		return 0, fmt.Errorf("horizon %v: want ≥ 0", horizon)
	}
	q, err := WindowLoss(r, hazardPerHour, repair)
	if err != nil {
		return 0, err
	}
	return -math.Expm1(-float64(r) * hazardPerHour * horizon.Hours() * q), nil
}

// AnnualLossProbability is LossProbability over a year for nodes with the
// given annual failure rate.
func AnnualLossProbability(r int, afr float64, repair time.Duration) (float64, error) {
	h, err := HazardFromAFR(afr)
	if err != nil {
		return 0, err
	}
	p, err := LossProbability(r, h, repair, Year)
	if err != nil {
		return 0, fmt.Errorf("annual loss with AFR %v: %w", afr, err)
	}
	return p, nil
}

// AnyLoss returns the probability that at least one of objects
// independent objects, each lost with probability p, is lost:
// 1 − (1 − p)^I, computed as −expm1(I·log1p(−p)) so that p far below
// float64's epsilon (where 1 − p rounds to 1) and I up to 10^12 and
// beyond still give the right answer.
func AnyLoss(p, objects float64) (float64, error) {
	if !(p >= 0 && p <= 1) {
		return 0, fmt.Errorf("loss probability %v: want [0, 1]", p)
	}
	if !(objects >= 0) || math.IsInf(objects, 1) {
		return 0, fmt.Errorf("object count %v: want a finite count ≥ 0", objects)
	}
	if objects == 0 || p == 0 {
		return 0, nil // also spares 0·log1p(−1) = 0·(−Inf) = NaN
	}
	return -math.Expm1(objects * math.Log1p(-p)), nil
}

func checkLossArgs(r int, hazardPerHour float64, repair time.Duration) error {
	if r < 1 {
		return fmt.Errorf("replication factor %d: want ≥ 1", r)
	}
	if !(hazardPerHour >= 0) || math.IsInf(hazardPerHour, 1) {
		return fmt.Errorf("hazard %v per hour: want a finite rate ≥ 0", hazardPerHour)
	}
	if repair < 0 {
		return fmt.Errorf("repair time %v: want ≥ 0", repair)
	}
	return nil
}
