package simulations

import (
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/simulations/model"
	"github.com/ipfs/go-cid"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	mh "github.com/multiformats/go-multihash"
)

// lookupBucketSize and lookupAlpha are the DHT's k and alpha in the
// lookup scenario. With cairn's k of 20 a network of a few hundred nodes
// is one or two hops wide whatever its size; and hops, counted as the
// deepest referral queried when the answer came, hardly grow under
// kad-dht's alpha of 10, whose parallel queries mix depths (medians of 2,
// 2, 2 at N = 16, 32, 64 with k=4). k=2 with sequential queries (alpha 1,
// Kademlia's plain iterative lookup) shows the growth at the sizes one
// process can run.
//
// With k=2 the routing tables stay under kad-dht's low-peer threshold
// (10), so every new connection triggers its liveness check and table
// repair, and with many nodes these flood each other; one check at a
// time per node (LookupCheckConcurrency) keeps the network calm.
const (
	lookupBucketSize = 2
	lookupAlpha      = 1
)

var lookupKadOptions = []kaddht.Option{kaddht.LookupCheckConcurrency(1)}

func TestLookupCostGrowsWithTheLogOfN(t *testing.T) {
	sizes := scale([]int{16, 32, 64}, []int{16, 32, 64, 128, 256})
	lookups := scale(150, 1000)
	nw := newNetwork(t, Options{BucketSize: lookupBucketSize, Concurrency: lookupAlpha,
		KadOptions: lookupKadOptions})
	ctx, cancel := context.WithTimeout(context.Background(), scale(3*time.Minute, 20*time.Minute))
	defer cancel()

	var rows []LookupRow
	for _, n := range sizes {
		t0 := time.Now()
		if err := nw.Grow(ctx, n-len(nw.Live())); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := nw.RefreshRoutingTables(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("N=%d: grew in %v, refreshed in %v", n, t1.Sub(t0), time.Since(t1))
		t2 := time.Now()
		row := LookupRow{N: n}
		var hops, rpcs []int
		for i := 0; i < lookups; i++ {
			key := randomKey(t, nw)
			provider, looker := nw.Random(), nw.Random()
			for looker == provider {
				looker = nw.Random()
			}
			if err := provider.Node.DHT().Kad().Provide(ctx, key, true); err != nil {
				t.Fatalf("N=%d: provide: %v", n, err)
			}
			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			provs, st, err := looker.Node.DHT().FindProviders(lctx, key, 1)
			lcancel()
			if err != nil && len(provs) == 0 {
				t.Fatalf("N=%d: lookup %d from %s for a key provided by %s: %v", n, i, looker, provider, err)
			}
			if len(provs) == 0 {
				// With k=2 a provide and a lookup can stop at different
				// local minima of the XOR distance; count it, and keep
				// its cost out of the hop figures.
				row.Missed++
				t.Logf("N=%d: lookup %d from %s found no provider of a key provided by %s (%d hops, %d RPCs)", n, i, looker, provider, st.Hops, st.RPCs)
				continue
			}
			if provs[0].ID != provider.ID() {
				t.Fatalf("N=%d: lookup %d returned %s, want %s", n, i, provs[0].ID, provider.ID())
			}
			hops = append(hops, st.Hops)
			rpcs = append(rpcs, st.RPCs)
		}
		t.Logf("N=%d: %d lookups in %v, %d missed", n, lookups, time.Since(t2), row.Missed)
		if row.Missed*100 > lookups {
			t.Errorf("N=%d: %d of %d lookups missed the provider: want at most 1%%", n, row.Missed, lookups)
		}
		row.Lookups = lookups
		row.Hops, row.RPCs = summarize(hops), summarize(rpcs)
		row.TableSize = meanTableSize(nw)
		rows = append(rows, row)
		t.Logf("N=%d: hops histogram %v", n, histogram(hops))
		t.Logf("N=%d: hops median %.1f p95 %.1f, RPCs median %.1f p95 %.1f, routing table %.1f peers",
			n, row.Hops.Median, row.Hops.P95, row.RPCs.Median, row.RPCs.P95, row.TableSize)
	}

	points := make([]model.Point, len(rows))
	for i, r := range rows {
		points[i] = model.Point{N: r.N, Hops: r.Hops.Median}
	}
	a, b, r2, err := model.FitLog2(points)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: median hops = %.2f·log2(N) %+.2f (r² %.2f)", a, b, r2)
	first, at64 := rows[0], rows[2] // N=16 and N=64 in both variants
	if at64.Hops.Median <= first.Hops.Median || at64.Hops.Median-first.Hops.Median > 2 {
		t.Errorf("median hops went from %.1f at N=16 to %.1f at N=64: want growth of at most 2",
			first.Hops.Median, at64.Hops.Median)
	}
	report.setLookup(LookupResult{BucketSize: lookupBucketSize, Alpha: lookupAlpha, Rows: rows, A: a, B: b, R2: r2})
}

// randomKey is the CID of random bytes: a key no one has announced.
func randomKey(t *testing.T, nw *Network) cid.Cid {
	t.Helper()
	b := make([]byte, 32)
	nw.Read(b)
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func meanTableSize(nw *Network) float64 {
	live := nw.Live()
	total := 0
	for _, m := range live {
		total += m.Node.DHT().Kad().RoutingTable().Size()
	}
	return float64(total) / float64(len(live))
}

// histogram counts each value: index i holds how many samples were i.
func histogram(xs []int) []int {
	var h []int
	for _, x := range xs {
		for len(h) <= x {
			h = append(h, 0)
		}
		h[x]++
	}
	return h
}
