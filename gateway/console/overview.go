package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cairnstore/cairn/gateway"
)

type nodeRow struct {
	gateway.NodeStatus
	Self     bool
	Seen     string
	UsedPct  int // of Capacity; 0 when there is no limit
	Capacity bool
}

type health struct {
	Class string // "ok", "warn" or "bad"
	Text  string
}

type overviewData struct {
	Nodes    []nodeRow
	Up, Down int
	Under    int64
	Pins     gateway.PinTotals
	Chart    chart
	Span     string
	Every    string
	Health   health
	Updated  string
}

// judge sums up the cluster in one line: nodes down first (their chunks
// are about to be repaired), then chunks below R.
func judge(d overviewData) health {
	switch {
	case len(d.Nodes) == 0:
		return health{"warn", "No node has reported its status yet"}
	case d.Down > 0 && d.Under > 0:
		return health{"bad", fmt.Sprintf("%d node(s) down, %d chunk(s) below R", d.Down, d.Under)}
	case d.Down > 0:
		return health{"warn", fmt.Sprintf("%d node(s) down", d.Down)}
	case d.Under > 0:
		return health{"warn", fmt.Sprintf("Repairing: %d chunk(s) below R", d.Under)}
	}
	return health{"ok", "Healthy: every node up, no chunk below R"}
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := c.cfg.Backend.ClusterStatus(ctx)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("cluster status: %w", err))
		return
	}
	now := c.cfg.Now()
	self := c.cfg.Backend.Identity().ID
	d := overviewData{Pins: st.Pins, Span: spanText(c.cfg.Span), Every: c.cfg.SampleEvery.String(),
		Updated: now.UTC().Format("15:04:05 UTC")}
	for _, n := range st.Nodes {
		row := nodeRow{NodeStatus: n, Self: n.ID == self, Seen: ago(now, n.LastSeen), Capacity: n.Capacity > 0}
		if row.Self {
			row.Seen = "this node"
		}
		if n.Capacity > 0 {
			row.UsedPct = int(min(100, n.Used*100/n.Capacity))
		}
		if n.State == "down" {
			d.Down++
		} else {
			d.Up++
			d.Under += n.UnderReplicated
		}
		d.Nodes = append(d.Nodes, row)
	}
	// This node first, then by ID: rows keep their places between
	// refreshes.
	slices.SortFunc(d.Nodes, func(a, b nodeRow) int {
		if a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	d.Health = judge(d)
	d.Chart = plot(c.samples(now), now, c.cfg.Span, c.cfg.SampleEvery)
	c.render(w, r, http.StatusOK, "overview", "Overview", d)
}

func (c *Console) peers(w http.ResponseWriter, r *http.Request) {
	ps := c.cfg.Backend.Peers()
	slices.SortFunc(ps, func(a, b gateway.PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
	c.render(w, r, http.StatusOK, "peers", "Peers", struct {
		Peers []gateway.PeerInfo
		Addrs []string
	}{ps, c.cfg.Backend.Identity().Addresses})
}

func (c *Console) upload(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "upload", "Upload", nil)
}

// spanText names a span as a heading says it: "hour", "6 hours", "30
// minutes".
func spanText(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
