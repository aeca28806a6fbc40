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
// of referrals among the peers queried: a peer from our own routing table
// is hop 1, a peer first named by a hop-n peer is hop n+1. A lookup that
// found its answer in the local provider store makes no RPCs and 0 hops.
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

// trace runs fn with query events routed to a tracer and returns its stats.
func (d *DHT) trace(ctx context.Context, fn func(ctx context.Context)) LookupStats {
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
	fn(ectx)
	elapsed := time.Since(start)
	cancel() // closes events once the publisher sees it
	<-done
	t.mu.Lock()
	st := LookupStats{RPCs: t.rpcs, Hops: t.hops, Duration: elapsed}
	t.mu.Unlock()
	d.mu.Lock()
	d.lookups.Lookups++
	d.lookups.RPCs += int64(st.RPCs)
	d.lookups.Hops += int64(st.Hops)
	d.mu.Unlock()
	return st
}

// FindProviders returns up to max providers of c (max <= 0: as many as
// the lookup finds), this node included if it holds c.
func (d *DHT) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, LookupStats, error) {
	var out []peer.AddrInfo
	st := d.trace(ctx, func(ctx context.Context) {
		count := max
		if count <= 0 {
			count = 0 // kad-dht: 0 means find all
		}
		for ai := range d.kad.FindProvidersAsync(ctx, c, count) {
			out = append(out, ai)
		}
	})
	if len(out) == 0 && ctx.Err() != nil {
		return nil, st, fmt.Errorf("dht: find providers of %s: %w", c, ctx.Err())
	}
	return out, st, nil
}

// GetClosestPeers returns the peers closest to key in the DHT's keyspace.
func (d *DHT) GetClosestPeers(ctx context.Context, key string) ([]peer.ID, LookupStats, error) {
	var out []peer.ID
	var err error
	st := d.trace(ctx, func(ctx context.Context) {
		out, err = d.kad.GetClosestPeers(ctx, key)
	})
	if err != nil {
		return nil, st, fmt.Errorf("dht: closest peers: %w", err)
	}
	return out, st, nil
}
