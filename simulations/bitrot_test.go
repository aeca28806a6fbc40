package simulations

import (
	"context"
	"fmt"
	"testing"
	"time"

	mh "github.com/multiformats/go-multihash"
)

func TestBitrotAcrossNodesIsFoundAndRepaired(t *testing.T) {
	n := scale(8, 24)
	nfiles := scale(8, 40)
	ncorrupt := scale(10, 60)
	nw := newNetwork(t, Options{Replication: simRepair, ScrubInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := nw.Grow(ctx, n); err != nil {
		t.Fatal(err)
	}
	var files []File
	for i := range nfiles {
		f, err := nw.AddFile(ctx, nw.Random(), fileSizes[i%len(fileSizes)])
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := nw.WaitSettled(ctx, files, 3, 5); err != nil {
		t.Fatal(err)
	}

	// Rot copies on random holders, never all copies of a block: at most
	// R-1 = 2 of each, so a good copy always remains somewhere.
	type copyAt struct {
		m   *Member
		key string
	}
	rotted := map[copyAt]bool{}
	perKey := map[string]int{}
	var keys []mh.Multihash
	for _, f := range files {
		keys = append(keys, f.Keys...)
	}
	before := scrubErrors(nw)
	start := time.Now()
	for tries := 0; len(rotted) < ncorrupt && tries < 100*ncorrupt; tries++ {
		k := keys[nw.Intn(len(keys))]
		hs := nw.Holders(k)
		m := hs[nw.Intn(len(hs))]
		if perKey[string(k)] >= 2 || rotted[copyAt{m, string(k)}] {
			continue
		}
		if err := m.Node.Store().Sync(); err != nil {
			t.Fatal(err)
		}
		if err := nw.Corrupt(m, k); err != nil {
			// A copy a scrub pass is already replacing: pick another.
			t.Logf("skip: %v", err)
			continue
		}
		rotted[copyAt{m, string(k)}] = true
		perKey[string(k)]++
	}
	if len(rotted) < ncorrupt {
		t.Fatalf("could only rot %d copies", len(rotted))
	}

	// Repaired: every rotten copy found, every store verifying clean, and
	// every block back at R good copies.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := allClean(ctx, nw)
		if err == nil && scrubErrors(nw)-before >= int64(len(rotted)) {
			if err = nw.WaitCopies(ctx, files, 3); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rot not repaired after 2m: %v (found %d of %d)", err, scrubErrors(nw)-before, len(rotted))
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	took := time.Since(start)
	repaired := 0
	for c := range rotted {
		if _, err := c.m.Node.Store().GetHash(mh.Multihash(c.key)); err == nil {
			repaired++ // its holder fetched a good copy back
		}
	}
	for i, f := range files {
		if err := nw.ReadFile(ctx, nw.Random(), f, 20*time.Second); err != nil {
			t.Errorf("file %d after repair: %v", i, err)
		}
	}
	detected := scrubErrors(nw) - before
	if detected > int64(len(rotted)) {
		// Corrupt checks that each flip took on a live record, so any
		// more is a block the nodes themselves damaged.
		t.Errorf("the scrubbers found %d corrupt copies; only %d were rotted", detected, len(rotted))
	}
	t.Logf("bitrot: %d copies rotted on %d nodes, %d found, %d refetched by their holders, clean in %v", len(rotted), n, detected, repaired, took)
	report.setBitrot(BitrotResult{Nodes: n, Files: nfiles, Corrupted: len(rotted), Detected: detected, Repaired: repaired, Took: took})
}

func scrubErrors(nw *Network) int64 {
	var total int64
	for _, m := range nw.Live() {
		total += m.Node.ScrubErrors()
	}
	return total
}

// allClean checks every live store's records against their CRCs and
// hashes.
func allClean(ctx context.Context, nw *Network) error {
	for _, m := range nw.Live() {
		res, err := m.Node.Store().Verify(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: verify: %w", m, err)
		}
		if len(res.Failed) > 0 {
			return fmt.Errorf("%s: %d blocks fail verification", m, len(res.Failed))
		}
	}
	return nil
}
