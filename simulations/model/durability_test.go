package model

import (
	"math"
	"testing"
	"time"
)

// near reports whether got is within rel (relative) of want.
func near(got, want, rel float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// The references were computed at 60 digits with bc -l from the formulas
// in durability.go, independently of float64.
func TestAnnualLossProbability(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      int
		afr    float64
		repair time.Duration
		want   float64
	}{
		{"afr2%/1h/r2", 2, 0.02, time.Hour, 9.3120897474331573899969853919821088e-8},
		{"afr2%/1h/r3", 3, 0.02, time.Hour, 3.21918575724818980695417980815791e-13},
		{"afr5%/24h/r2", 2, 0.05, 24 * time.Hour, 1.4405466767368077313109353764424931e-5},
		{"afr5%/24h/r3", 3, 0.05, 24 * time.Hour, 3.034321508896955607884369954461300e-9},
		// One copy is lost exactly when its node fails: the AFR.
		{"r1", 1, 0.05, 24 * time.Hour, 0.05},
		// Instant repair never loses more than one copy at a time.
		{"instant", 3, 0.05, 0, 0},
		{"immortal", 2, 0, time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AnnualLossProbability(tc.r, tc.afr, tc.repair)
			if err != nil {
				t.Fatalf("AnnualLossProbability: %v", err)
			}
			if !near(got, tc.want, 1e-9) {
				t.Errorf("AnnualLossProbability(%d, %v, %v) = %.17g, want %.17g", tc.r, tc.afr, tc.repair, got, tc.want)
			}
		})
	}
}

func TestLossProbabilityFromHazard(t *testing.T) {
	h, err := HazardFromAFR(0.02)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2.304666588811253525900673171822083943934905741908e-6; !near(h, want, 1e-12) {
		t.Errorf("HazardFromAFR(0.02) = %.17g, want %.17g", h, want)
	}
	for _, tc := range []struct {
		r    int
		want float64
	}{
		{2, 1.750789269365286956548030677013032506155262389071e-3},
		{3, 2.627168282380140155213694972612082328758301499630e-6},
	} {
		got, err := LossProbability(tc.r, 1e-4, 10*time.Hour, Year)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tc.want, 1e-9) {
			t.Errorf("LossProbability(r=%d, 1e-4/h, 10h, year) = %.17g, want %.17g", tc.r, got, tc.want)
		}
	}
	// For λT ≪ 1 the window loss is (λT)^(r−1).
	q, err := WindowLoss(3, 1e-9, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !near(q, 1e-18, 1e-8) {
		t.Errorf("WindowLoss(3, 1e-9/h, 1h) = %g, want 1e-18", q)
	}
}

func TestAnyLoss(t *testing.T) {
	for _, tc := range []struct {
		p, objects, want float64
	}{
		// 1 − 1e-12 is held only to about 1e-16, so the naive
		// 1 − (1 − p)^I gives 9.99977e-7 here, wrong in the fifth digit.
		{1e-12, 1e6, 9.9999950000066666613e-7},
		{1e-12, 1e12, 0.63212055882874161813}, // 1 − 1/e
		// 1 − 1e-20 rounds to 1: the naive power would say 0.
		{1e-20, 1e6, 9.99999999999995e-15},
		{1e-20, 1e12, 9.9999999500000001667e-9},
		// The afr 2%, 1 h repair figures of TestAnnualLossProbability.
		{9.3120897474331573899969853919821088e-8, 1e6, 0.088916657988078598298},
		{3.21918575724818980695417980815791e-13, 1e6, 3.2191852390909165827e-7},
		{3.21918575724818980695417980815791e-13, 1e12, 0.27524279924285403318},
		{0.5, 1e12, 1},
		{1, 1e6, 1},
		{0, 1e12, 0},
		{1, 0, 0},
	} {
		got, err := AnyLoss(tc.p, tc.objects)
		if err != nil {
			t.Fatalf("AnyLoss(%g, %g): %v", tc.p, tc.objects, err)
		}
		if !near(got, tc.want, 1e-9) {
			t.Errorf("AnyLoss(%g, %g) = %.17g, want %.17g", tc.p, tc.objects, got, tc.want)
		}
	}
}

func TestDurabilityRejectsBadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"afr 1", second(HazardFromAFR(1))},
		{"afr <0", second(HazardFromAFR(-0.1))},
		{"afr NaN", second(HazardFromAFR(nan))},
		{"r 0", second(WindowLoss(0, 1e-4, time.Hour))},
		{"hazard <0", second(WindowLoss(2, -1, time.Hour))},
		{"hazard inf", second(WindowLoss(2, inf, time.Hour))},
		{"repair <0", second(WindowLoss(2, 1e-4, -time.Hour))},
		{"horizon <0", second(LossProbability(2, 1e-4, time.Hour, -time.Hour))},
		{"annual r 0", second(AnnualLossProbability(0, 0.02, time.Hour))},
		{"p >1", second(AnyLoss(1.5, 10))},
		{"p NaN", second(AnyLoss(nan, 10))},
		{"objects <0", second(AnyLoss(0.1, -1))},
		{"objects inf", second(AnyLoss(0.1, inf))},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func second(_ float64, err error) error { return err }
