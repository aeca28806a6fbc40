package console

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
)

// maxPinRows bounds the pins a page lists: the newest that match.
const maxPinRows = 500

type pinRow struct {
	gateway.PinInfo
	When string
}

type pinsData struct {
	Query     string
	Rows      []pinRow
	Total     int // pins in the set
	Matched   int // of them, those the query matches
	Truncated bool
}

// newest keeps the n newest pins it is offered (a min-heap on time), so
// that a set of 100,000 pins is listed in bounded memory.
type newest []gateway.PinInfo

func (h newest) Len() int           { return len(h) }
func (h newest) Less(i, j int) bool { return older(h[i], h[j]) }
func (h newest) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newest) Push(x any)        { *h = append(*h, x.(gateway.PinInfo)) }
func (h *newest) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h *newest) offer(p gateway.PinInfo, n int) {
	switch {
	case h.Len() < n:
		heap.Push(h, p)
	case older((*h)[0], p):
		(*h)[0] = p
		heap.Fix(h, 0)
	}
}

// older orders pins by time, then (for equal times) by CID, the
// greater first, so that the order is total.
func older(a, b gateway.PinInfo) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.CID > b.CID
}

// matches says whether a pin answers a search: a case-insensitive part of
// its name, or of its CID.
func matches(p gateway.PinInfo, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(p.Name), q) || strings.Contains(strings.ToLower(p.CID), q)
}

func (c *Console) pinList(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	lq := strings.ToLower(q)
	d := pinsData{Query: q}
	var top newest
	err := c.cfg.Backend.Pins(r.Context(), func(p gateway.PinInfo) error {
		d.Total++
		if matches(p, lq) {
			d.Matched++
			top.offer(p, maxPinRows)
		}
		return nil
	})
	if err != nil {
		c.fail(w, r, pinsStatus(err), fmt.Errorf("the cluster's pins: %w", err))
		return
	}
	d.Truncated = d.Matched > len(top)
	now := c.cfg.Now()
	slices.SortFunc(top, func(a, b gateway.PinInfo) int {
		if n := b.At.Compare(a.At); n != 0 {
			return n
		}
		return cmp.Compare(a.CID, b.CID)
	})
	for _, p := range top {
		d.Rows = append(d.Rows, pinRow{PinInfo: p, When: ago(now, p.At)})
	}
	c.render(w, r, http.StatusOK, "pins", "Pins", d)
}

type blockRow struct {
	gateway.ChunkReplicas
	Low bool // below the pin's factor
}

type pinData struct {
	gateway.PinStatus
	When      string
	Blocks    []blockRow
	Truncated int // blocks not listed
	Low       bool
}

// maxBlockRows bounds the blocks a pin's page lists.
const maxBlockRows = 1000

func (c *Console) pinDetail(w http.ResponseWriter, r *http.Request) {
	root, err := chunk.ParseCID(r.PathValue("cid"))
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, fmt.Errorf("pin: %w", err))
		return
	}
	release, ok := c.acquireFetch() // probes every block's holders
	if !ok {
		c.busy(w, r)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.FetchTimeout)
	defer cancel()
	ps, err := c.cfg.Backend.PinStatus(ctx, root, gateway.ReadOptions{StallTimeout: c.cfg.FetchTimeout})
	if err != nil {
		c.fail(w, r, pinsStatus(err), fmt.Errorf("pin %s: %w", root, err))
		return
	}
	d := pinData{PinStatus: ps, When: ago(c.cfg.Now(), ps.Pin.At), Low: ps.MinLive < ps.Factor}
	for i, ch := range ps.Chunks {
		if i == maxBlockRows {
			d.Truncated = len(ps.Chunks) - i
			break
		}
		d.Blocks = append(d.Blocks, blockRow{ChunkReplicas: ch, Low: ch.Live < ps.Factor})
	}
	title := ps.Pin.Name
	if title == "" {
		title = shortID(ps.Pin.CID)
	}
	c.render(w, r, http.StatusOK, "pin", "Pin "+title, d)
}

func (c *Console) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	c.fail(w, r, http.StatusServiceUnavailable,
		fmt.Errorf("%d console pages are reading from the network already; try again shortly", c.cfg.MaxFetches))
}

// pinsStatus maps an error of the pin set or a read to a status.
func pinsStatus(err error) int {
	switch {
	case errors.Is(err, gateway.ErrNotPinned), errors.Is(err, gateway.ErrNoProvider), errors.Is(err, chunk.ErrNoSuchEntry):
		return http.StatusNotFound
	case errors.Is(err, gateway.ErrInvalid), errors.Is(err, chunk.ErrNotDir),
		errors.Is(err, chunk.ErrBadDAG), errors.Is(err, chunk.ErrUnsupportedCodec):
		return http.StatusBadRequest
	case errors.Is(err, gateway.ErrOffline):
		return http.StatusServiceUnavailable
	case errors.Is(err, gateway.ErrStalled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
