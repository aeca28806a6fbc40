package pinset

import (
	"context"
	"fmt"
)

// Totals sums the set: how many pins it has and the bytes they record.
type Totals struct {
	Pins  int
	Bytes uint64
}

// totalsCache keeps the last count of the set. Counting reads every entry
// (half a second at 100,000 pins, and the console asks every 10 s): a set
// that has not changed since is not counted again.
type totalsCache struct {
	lock   chan struct{} // held while counting: callers meanwhile share the count
	t      Totals
	still  <-chan struct{} // closed at the first change after the count began
	counts int             // how many times the set was counted (for tests)
}

// Totals counts the set's pins and their bytes; while the set is still,
// the last count answers.
func (s *Set) Totals(ctx context.Context) (Totals, error) {
	c := &s.totals
	select {
	case c.lock <- struct{}{}:
		defer func() { <-c.lock }()
	case <-ctx.Done():
		return Totals{}, fmt.Errorf("pinset: totals: %w", ctx.Err())
	}
	if c.still != nil {
		select {
		case <-c.still:
		default:
			return c.t, nil
		}
	}
	// Taken before the count, so that a change during it marks it stale.
	still := s.changes()
	var t Totals
	if err := s.List(ctx, func(p Pin) error {
		t.Pins++
		t.Bytes += p.Bytes
		return nil
	}); err != nil {
		return Totals{}, err
	}
	c.t, c.still = t, still
	c.counts++
	return t, nil
}
