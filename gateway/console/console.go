// Package console serves cairn's web console: the pages a person opens in
// a browser at the daemon's gateway address to see the cluster's health,
// its pins and files, and to upload, unpin and connect.
//
// Pages are rendered on the server (html/template) from files embedded in
// the binary, so the read-only views work with JavaScript off; a small
// script refreshes the overview and performs the actions. Actions go
// through the gateway's API with the API token as a bearer header, which
// the page keeps in sessionStorage: the console itself holds no session
// and sets no cookie, so no other site can act through a visitor's
// browser. Every page is sent with a Content-Security-Policy that allows
// only the console's own scripts and styles.
//
// The console keeps an hour of replication health in memory (History),
// sampled by Run; nothing of it is written to disk.
//
// Routes (the gateway forwards GET / and /console/ here):
//
//	GET /                           overview: nodes, pin totals, the last hour
//	GET /console/pins?q=            the cluster's pins, newest first, filtered by name or CID
//	GET /console/pins/{cid}         a pin: its blocks and their holders; unpin
//	GET /console/files[?path=]      browse a CID or CID/path: folders, previews, downloads
//	GET /console/peers              connected peers; connect to a multiaddr
//	GET /console/upload             files and folders by drag and drop or picker
//	GET /console/static/{name}      the stylesheet and script
//
// ?part=main on a page returns its main section alone, for the refresh.
package console

import (
	"context"
	"embed"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

// Backend is what the console reads. The gateway's backend (the daemon's
// node) implements it.
type Backend interface {
	Identity() gateway.IDResponse
	Peers() []gateway.PeerInfo
	ClusterStatus(ctx context.Context) (gateway.ClusterStatus, error)
	Pins(ctx context.Context, fn func(gateway.PinInfo) error) error
	PinStatus(ctx context.Context, c cid.Cid, o gateway.ReadOptions) (gateway.PinStatus, error)
	Metrics() gateway.Metrics
	Has(c cid.Cid) bool
	Resolve(ctx context.Context, c cid.Cid, path string, o gateway.ReadOptions) (cid.Cid, error)
	Describe(ctx context.Context, c cid.Cid, o gateway.ReadOptions) (gateway.DirEntry, error)
	List(ctx context.Context, c cid.Cid, o gateway.ReadOptions) ([]gateway.DirEntry, error)
	Open(ctx context.Context, c cid.Cid, o gateway.ReadOptions) (gateway.File, error)
}

// Config configures a console.
type Config struct {
	Backend Backend
	// SampleEvery is how often Run samples replication health (default
	// 10s); Span is how much of it the overview shows (default 1h).
	SampleEvery time.Duration
	Span        time.Duration
	// FetchTimeout bounds a page's wait for content not held here
	// (default 30s); MaxFetches bounds such pages in flight (default 4),
	// past which they answer 503.
	FetchTimeout time.Duration
	MaxFetches   int
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Console is the console's HTTP handler.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	pages   pages
	fetches chan struct{}

	mu   sync.Mutex
	hist *History
}

//go:embed assets
var assets embed.FS

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Backend == nil {
		return nil, errors.New("console: no backend")
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	if cfg.Span <= 0 {
		cfg.Span = time.Hour
	}
	if cfg.Span < cfg.SampleEvery {
		return nil, errors.New("console: Span shorter than SampleEvery")
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg:     cfg,
		mux:     http.NewServeMux(),
		pages:   pg,
		fetches: make(chan struct{}, cfg.MaxFetches),
		hist:    NewHistory(int(cfg.Span/cfg.SampleEvery)+1, cfg.SampleEvery),
	}
	c.routes()
	return c, nil
}

// Run samples replication health every SampleEvery until ctx ends.
func (c *Console) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	for {
		c.Record(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Record takes one sample now (Run calls it; tests call it directly).
func (c *Console) Record(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SampleEvery)
	defer cancel()
	st, err := c.cfg.Backend.ClusterStatus(ctx)
	if err != nil {
		return // the next sample is marked as after a gap
	}
	m := c.cfg.Backend.Metrics()
	c.mu.Lock()
	c.hist.Observe(c.cfg.Now(), st, m)
	c.mu.Unlock()
}

func (c *Console) samples(now time.Time) []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hist.Since(now.Add(-c.cfg.Span))
}

// csp lets a console page load its own script, style and images (previews
// come from /ipfs/ on the same origin) and nothing else: no inline script,
// no framing, no form posted elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	c.mux.HandleFunc("GET /{$}", c.overview)
	c.mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusFound)
	})
	c.mux.HandleFunc("GET /console/pins", c.pinList)
	c.mux.HandleFunc("GET /console/pins/{cid}", c.pinDetail)
	c.mux.HandleFunc("GET /console/files", c.files)
	c.mux.HandleFunc("GET /console/files/{cid}", c.files)
	c.mux.HandleFunc("GET /console/files/{cid}/{path...}", c.files)
	c.mux.HandleFunc("GET /console/peers", c.peers)
	c.mux.HandleFunc("GET /console/upload", c.upload)
	c.mux.HandleFunc("GET /console/static/{name}", c.static)
}

// acquireFetch takes a slot for a page that reads content or probes
// peers (a pin's page, the files pages): even a root held here may lead to
// a path or entries that are not. False when none is free.
func (c *Console) acquireFetch() (release func(), ok bool) {
	select {
	case c.fetches <- struct{}{}:
		return func() { <-c.fetches }, true
	default:
		return nil, false
	}
}
