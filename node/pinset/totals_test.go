package pinset

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestTotalsCountTheSetOnceWhileItIsStillAndAgainAfterAChange(t *testing.T) {
	cl := newCluster(t, 2, nil)
	ctx := context.Background()
	writer, reader := cl.sets[0], cl.sets[1]
	pin := func(i int, bytes uint64) Pin {
		return Pin{Root: testCID(t, fmt.Sprint("totals ", i)), By: cl.hosts[0].ID(), At: time.Unix(1700000000, 0).UTC(), Bytes: bytes}
	}
	for _, tc := range []struct {
		name   string
		change func() error
		listed int // pins the reader's set lists once the change is in
		want   Totals
		counts int // how many counts the reader has made by then
	}{
		{"first", func() error { return writer.AddMany(ctx, []Pin{pin(1, 100), pin(2, 20), pin(3, 3)}) }, 3, Totals{Pins: 3, Bytes: 123}, 1},
		{"the set still: not counted again", nil, 3, Totals{Pins: 3, Bytes: 123}, 1},
		{"a pin: counted again", func() error { return writer.Add(ctx, pin(4, 4000)) }, 4, Totals{Pins: 4, Bytes: 4123}, 2},
		{"an unpin: counted again", func() error { return writer.Remove(ctx, pin(1, 0).Root) }, 3, Totals{Pins: 3, Bytes: 4023}, 3},
		{"still again", nil, 3, Totals{Pins: 3, Bytes: 4023}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan struct{})
			close(closed)
			var told <-chan struct{} = closed
			if tc.change != nil {
				told = reader.changes()
				if err := tc.change(); err != nil {
					t.Fatal(err)
				}
			}
			// The reader lists the change, and has been told of it (the
			// entry shows a moment before the hook runs).
			waitFor(t, 10*time.Second, "the reader has the change", func() bool {
				n := 0
				reader.List(ctx, func(Pin) error { n++; return nil })
				select {
				case <-told:
					return n == tc.listed
				default:
					return false
				}
			})
			got, err := reader.Totals(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || reader.totals.counts != tc.counts {
				t.Fatalf("totals %+v after %d counts, want %+v after %d", got, reader.totals.counts, tc.want, tc.counts)
			}
		})
	}
}
