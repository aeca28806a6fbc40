package console

import (
	"time"

	"github.com/cairnstore/cairn/gateway"
)

// Sample is the cluster's replication health at one moment, as this node
// sees it.
type Sample struct {
	At time.Time
	// Under is the chunks below R, summed over the nodes that are up (each
	// counts what it found at its last repair walk).
	Under int64
	// Repairing is the repairs waiting in the nodes' current walks.
	Repairing int64
	// Pushed is the bytes this node pushed to repair or replicate per
	// sampling interval, over the time since the sample before (0 for the
	// first): a sample taken late is not drawn taller for it.
	Pushed int64
	// Gap says no sample was taken for more than two intervals before
	// this one (the status could not be read): the chart breaks its line.
	Gap bool
	// pushedTotal is the node's counter, kept to work out the next delta.
	pushedTotal int64
}

// History keeps the samples of the last Span, oldest first, in a ring of
// fixed size: an hour of 10-second samples is 360 of them, whatever the
// cluster's size. It is plain data, fed by Add, so tests drive it with
// made-up clocks; it is not safe for concurrent use (Console locks it).
type History struct {
	every time.Duration
	ring  []Sample
	start int // index of the oldest sample
	n     int
}

// NewHistory keeps up to size samples, taken every interval.
func NewHistory(size int, every time.Duration) *History {
	return &History{every: every, ring: make([]Sample, max(size, 1))}
}

// Observe turns a status and the node's metrics into a sample and adds it.
func (h *History) Observe(now time.Time, st gateway.ClusterStatus, m gateway.Metrics) {
	s := Sample{At: now, pushedTotal: m.ReplicationBytes}
	for _, n := range st.Nodes {
		if n.State == "down" {
			continue // its figures are from before it went silent
		}
		s.Under += n.UnderReplicated
		s.Repairing += n.Repairing
	}
	if last, ok := h.last(); ok {
		elapsed := now.Sub(last.At)
		s.Gap = elapsed > 2*h.every
		if m.ReplicationBytes >= last.pushedTotal && elapsed > 0 {
			// A counter that went down restarted: no figure for this one.
			s.Pushed = int64(float64(m.ReplicationBytes-last.pushedTotal) * float64(h.every) / float64(elapsed))
		}
	}
	h.Add(s)
}

// Add appends a sample, forgetting the oldest when the ring is full.
func (h *History) Add(s Sample) {
	if h.n < len(h.ring) {
		h.ring[(h.start+h.n)%len(h.ring)] = s
		h.n++
		return
	}
	h.ring[h.start] = s
	h.start = (h.start + 1) % len(h.ring)
}

func (h *History) last() (Sample, bool) {
	if h.n == 0 {
		return Sample{}, false
	}
	return h.ring[(h.start+h.n-1)%len(h.ring)], true
}

// Since returns the samples taken at or after t, oldest first.
func (h *History) Since(t time.Time) []Sample {
	var out []Sample
	for i := range h.n {
		s := h.ring[(h.start+i)%len(h.ring)]
		if !s.At.Before(t) {
			out = append(out, s)
		}
	}
	return out
}
