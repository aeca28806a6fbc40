package pinset

import (
	"context"
	"sync"
	"time"
)

// Totals sums the set: how many pins it has and the bytes they record.
type Totals struct {
	Pins  int
	Bytes uint64
}

// totalsCache keeps the last count of the set. Counting reads every entry
// (half a second at 100,000 pins), and a status page polls the totals
// every few seconds: a set that has not changed since is not counted
// again, and one that keeps changing at most once per totalsEvery.
type totalsCache struct {
	mu     sync.Mutex // held while counting: callers meanwhile share the count
	t      Totals
	still  <-chan struct{} // closed at the first change after the count began
	at     time.Time
	counts int // how many times the set was counted (for tests)
}

// totalsEvery is how stale the totals may be while the set changes.
var totalsEvery = 2 * time.Second

// Totals counts the set's pins and their bytes. While the set changes the
// answer may lag it by up to two seconds; while it is still, it is exact
// and costs nothing.
func (s *Set) Totals(ctx context.Context) (Totals, error) {
	c := &s.totals
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.still != nil {
		select {
		case <-c.still:
			if time.Since(c.at) < totalsEvery {
				return c.t, nil
			}
		default:
			return c.t, nil
		}
	}
	// Taken before the count, so that a change during it marks it stale.
	still, at := s.changes(), time.Now()
	var t Totals
	if err := s.List(ctx, func(p Pin) error {
		t.Pins++
		t.Bytes += p.Bytes
		return nil
	}); err != nil {
		return Totals{}, err
	}
	c.t, c.still, c.at = t, still, at
	c.counts++
	return t, nil
}
