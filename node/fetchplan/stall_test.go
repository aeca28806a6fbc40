package fetchplan

import (
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func testCID(t *testing.T, name string) cid.Cid {
	t.Helper()
	sum, err := mh.Sum([]byte(name), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, sum)
}

// endOf ticks p at each of ticks (after start) and returns the error of
// the Fail action that ends it, or nil if none does.
func endOf(t *testing.T, p *Plan, start time.Time, ticks ...time.Duration) error {
	t.Helper()
	for _, d := range ticks {
		p.Tick(start.Add(d))
		for _, a := range p.Ready() {
			if a.Kind == Fail {
				return a.Err
			}
		}
	}
	return nil
}

func TestStallEndsTheFetchWithTheRightError(t *testing.T) {
	start := time.Unix(1e9, 0)
	for _, tc := range []struct {
		name      string
		providers []string
		starve    bool // every node-wide slot is taken
		want      error
	}{
		{name: "nobody known", want: ErrNoProvider},
		{name: "a provider known", providers: []string{"a"}, want: ErrStalled},
		{name: "waiting for a slot", providers: []string{"a"}, starve: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := testCID(t, "root")
			p := New(Config{Root: root, Providers: tc.providers, StallTimeout: time.Second})
			p.Tick(start)
			p.Ready() // resolve the root
			p.Step(Event{Kind: Resolved, CIDs: []cid.Cid{root}})
			for _, a := range p.Ready() {
				if a.Kind != TakeSlot {
					continue
				}
				if tc.starve {
					p.Step(Event{Kind: NoSlot})
				} else {
					p.Step(Event{Kind: SlotGranted})
				}
			}
			err := endOf(t, p, start, 500*time.Millisecond, time.Second, time.Minute)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("fetch waiting for a slot failed: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("end = %v, want %v", err, tc.want)
			}
		})
	}
}
