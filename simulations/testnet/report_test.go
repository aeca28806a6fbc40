package testnet

import (
	"testing"
	"time"
)

func TestLongestAboveMeasuresEachSurplusStretchApart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(sec, most int) CopySample {
		return CopySample{At: t0.Add(time.Duration(sec) * time.Second), Most: most}
	}
	tests := []struct {
		name    string
		samples []CopySample
		want    time.Duration
	}{
		{"never above", []CopySample{at(5, 5), at(10, 4)}, 0},
		{"above at the resume, back after one sample", []CopySample{at(5, 6), at(10, 5)}, 10 * time.Second},
		{"two short stretches are not one long one", []CopySample{at(5, 5), at(80, 6), at(90, 5), at(200, 6), at(211, 5)}, 11 * time.Second},
		{"never back within the limit", []CopySample{at(5, 5), at(30, 6), at(60, 7), at(90, 6)}, 60 * time.Second},
		{"samples before the resume are not counted", []CopySample{at(-30, 9), at(5, 5)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := longestAbove(tt.samples, t0, 5); got != tt.want {
				t.Errorf("longestAbove = %v, want %v", got, tt.want)
			}
		})
	}
}
