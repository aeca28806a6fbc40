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
	if err := writer.AddMany(ctx, []Pin{pin(1, 100), pin(2, 20), pin(3, 3)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the reader has the three pins", func() bool { return has(t, reader, pin(3, 0).Root) })

	for _, tc := range []struct {
		name   string
		every  time.Duration
		change func() error
		listed int // pins the reader's set lists once the change is in
		want   Totals
		counts int // how many counts the reader has made by then
	}{
		{"first", time.Hour, nil, 3, Totals{Pins: 3, Bytes: 123}, 1},
		{"the set still: not counted again", time.Hour, nil, 3, Totals{Pins: 3, Bytes: 123}, 1},
		{"changed within the interval: the last count stands", time.Hour,
			func() error { return writer.Add(ctx, pin(4, 4000)) }, 4, Totals{Pins: 3, Bytes: 123}, 1},
		{"changed and the interval over: counted again", 0, nil, 4, Totals{Pins: 4, Bytes: 4123}, 2},
		{"an unpin", 0, func() error { return writer.Remove(ctx, pin(1, 0).Root) }, 3, Totals{Pins: 3, Bytes: 4023}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := totalsEvery
			totalsEvery = tc.every
			t.Cleanup(func() { totalsEvery = old })
			if tc.change != nil {
				if err := tc.change(); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "the reader has the change", func() bool {
				n := 0
				reader.List(ctx, func(Pin) error { n++; return nil })
				return n == tc.listed
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
