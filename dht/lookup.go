package dht

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
)

// LookupStats measure one iterative lookup.
//
// RPCs counts the queries sent. Hops is the length of the longest chain
// of referrals (peer A named peer B, which named C, ...) the lookup had
// followed when its answer came: a peer from our own routing table is hop
// 1, a peer first named by a hop-n peer is hop n+1. For FindProviders the
// answer is the first provider from the network; kad-dht's events do not
// say which queried peer sent it, so this is the deepest peer queried by
// then. A lookup answered from the local provider store alone makes no
// RPCs and 0 hops.
type LookupStats struct {
	RPCs     int
	Hops     int
	Duration time.Duration
}

// Totals accumulate lookups for metrics.
type Totals struct {
	Lookups int64
	RPCs    int64
	Hops    int64
}

// Totals returns the lookups made so far.
func (d *DHT) Totals() Totals {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

// tracer follows kad-dht's query events to measure a lookup.
type tracer struct {
	mu    sync.Mutex
	depth map[peer.ID]int
	rpcs  int
	hops  int
}

func (t *tracer) observe(ev *routing.QueryEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Type {
	case routing.SendingQuery:
		t.rpcs++
		d, ok := t.depth[ev.ID]
		if !ok {
			d = 1 // not named by anyone: it came from our routing table
			t.depth[ev.ID] = d
		}
		t.hops = max(t.hops, d)
	case routing.PeerResponse:
		parent := t.depth[ev.ID]
		for _, ai := range ev.Responses {
			if _, ok := t.depth[ai.ID]; !ok {
				t.depth[ai.ID] = parent + 1
			}
		}
	}
}

func (t *tracer) hopsSoFar() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hops
}

// trace runs fn with query events routed to a tracer and returns its stats.
func (d *DHT) trace(ctx context.Context, fn func(ctx context.Context, t *tracer)) LookupStats {
	t := &tracer{depth: map[peer.ID]int{}}
	ectx, cancel := context.WithCancel(ctx)
	ectx, events := routing.RegisterForQueryEvents(ectx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			t.observe(ev)
		}
	}()
	start := time.Now()
	fn(ectx, t)
	elapsed := time.Since(start)
	cancel() // closes events once the publisher sees it
	<-done
	t.mu.Lock()
	st := LookupStats{RPCs: t.rpcs, Hops: t.hops, Duration: elapsed}
	t.mu.Unlock()
	return st
}

// record adds a lookup to the totals.
func (d *DHT) record(st LookupStats) {
	d.mu.Lock()
	d.lookups.Lookups++
	d.lookups.RPCs += int64(st.RPCs)
	d.lookups.Hops += int64(st.Hops)
	d.mu.Unlock()
}

// FindProviders returns up to max providers of c (max <= 0: as many as
// the lookup finds), this node included if it holds c.
func (d *DHT) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, LookupStats, error) {
	var out []peer.AddrInfo
	answeredAt := -1
	st := d.trace(ctx, func(ctx context.Context, t *tracer) {
		count := max
		if count <= 0 {
			count = 0 // kad-dht: 0 means find all
		}
		for ai := range d.kad.FindProvidersAsync(ctx, c, count) {
			if answeredAt < 0 && ai.ID != d.cfg.Host.ID() {
				answeredAt = t.hopsSoFar()
			}
			out = append(out, ai)
		}
	})
	if answeredAt >= 0 {
		st.Hops = answeredAt
	}
	d.record(st)
	if len(out) == 0 && ctx.Err() != nil {
		return nil, st, fmt.Errorf("dht: find providers of %s: %w", c, ctx.Err())
	}
	return out, st, nil
}

// GetClosestPeers returns the peers closest to key in the DHT's keyspace.
func (d *DHT) GetClosestPeers(ctx context.Context, key string) ([]peer.ID, LookupStats, error) {
	var out []peer.ID
	var err error
	st := d.trace(ctx, func(ctx context.Context, _ *tracer) {
		out, err = d.kad.GetClosestPeers(ctx, key)
	})
	d.record(st)
	if err != nil {
		return nil, st, fmt.Errorf("dht: closest peers: %w", err)
	}
	return out, st, nil
}
