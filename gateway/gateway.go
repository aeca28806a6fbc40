// Package gateway serves a cairn node over HTTP, through the Backend
// interface it defines (it imports neither the node nor the store): reads
// of /ipfs/{cid} for anyone, the /api/v1/ JSON API that the CLI and tools use (writes and
// admin calls need the repo's API token as a Bearer token, from every
// client, loopback included), Prometheus metrics on /metrics and a
// liveness probe on /healthz.
//
// With Config.Console set, GET / and /console/ are the web console
// (package gateway/console), which answers only at APIHosts.
//
// API (all JSON unless noted; errors are {"error": "..."} with a 4xx/5xx):
//
//	GET  /api/v1/id                       {"ID", "Addresses"}
//	GET  /api/v1/auth/proof?nonce=HEX     {"proof"}: HMAC-SHA256 of the nonce under the token,
//	                                      so a client checks the daemon before sending the token
//	GET  /api/v1/peers                    {"Peers": [{"ID", "Addr"}]}
//	POST /api/v1/peers/connect?addr=MA    connect to a peer (auth)
//	GET  /api/v1/providers/{cid}?max=N    {"Providers", "RPCs", "Hops"}
//	POST /api/v1/add?hash=H&name=N        body: the file (auth); {"Cid", "Size", "Blocks"}; N is
//	                                      the name its pin gets (default: a multipart part's filename,
//	                                      or an uploaded folder's name)
//	GET  /api/v1/stat/{cid}[/{path}]      {"cid", "size", "blocks", "type"}
//	GET  /api/v1/resolve/{cid}[/{path}]   {"cid", "type", "size", "target"}: what the path names
//	GET  /api/v1/ls/{cid}[/{path}]        {"Entries": [{"name", "cid", "type", "size"}]}: a folder
//	POST /api/v1/dag/import?pin-roots=B   body: a CAR (auth); {"roots": [{"cid", "pinned", "incomplete"}], "blocks", "bytes"}
//	GET  /api/v1/dag/export/{cid}         the DAG as a CARv1
//	GET  /api/v1/repo/stat                {"blocks", "bytes", "segments", "segment_bytes", "garbage"}
//	POST /api/v1/repo/verify              {"checked", "failed": [{"hash", "error"}]} (auth)
//	POST /api/v1/repo/gc                  {"kept", "removed", "reclaimed"} (auth)
//	POST /api/v1/drain                    hand every chunk to other peers (auth)
//	GET  /api/v1/replicas/{cid}           {"min_live", "chunks": [{"cid", "live", "holders"}]}
//	GET  /api/v1/pins                     the cluster's pin set, in CID order, streamed: {"Entries":
//	                                      [{"cid", "name", "replicas", "by", "at", "bytes"}]}
//	POST /api/v1/pins/{cid}?name=N&replicas=R
//	                                      pin in the cluster's set, fetching what is missing (auth);
//	                                      {"Pins": [cid], "Copies"}: the nodes holding the entry
//	DELETE /api/v1/pins/{cid}             unpin from the cluster's set, network-wide (auth)
//	GET  /api/v1/status                   {"nodes": [{"id", "state", "used", "capacity", "blocks",
//	                                      "under_replicated", "repairing", "last_seen"}],
//	                                      "pins": {"count", "bytes"}}
//	GET  /api/v1/status/{cid}             {"pin": {...as in Entries}, "factor", "min_live",
//	                                      "chunks": [{"cid", "live", "holders"}]}
//	GET  /ipfs/{cid}[/{path}]             the file (Range, If-None-Match, ?filename=), or a
//	                                      folder's index.html or listing;
//	                                      ?format=raw or Accept: application/vnd.ipld.raw: one block;
//	                                      ?format=car or Accept: application/vnd.ipld.car: a CARv1 of the
//	                                      path's blocks and the target's (dag-scope, entity-bytes,
//	                                      car-version/order/dups or Accept's version, order, dups);
//	                                      ?format=dag-json|dag-cbor|json|cbor: IPLD documents as is or
//	                                      converted, UnixFS as its dag-pb data model
//	OPTIONS /ipfs/{cid}[/{path}]          CORS preflight (reads allow any origin)
//	POST /ipfs/                           upload: body is the file, or the file part of multipart (auth)
package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a gateway.
type Config struct {
	// Backend is what the gateway serves: the daemon's node.
	Backend Backend
	// Token is the bearer token writes and admin calls need.
	Token string
	// APIHosts are the Host header values /api/ answers (host:port), so
	// that a web page whose name was pointed at this address (DNS
	// rebinding) cannot call the API from its own origin; empty, any.
	APIHosts []string
	// FetchTimeout is how long a read of content the node must fetch may
	// go without a block arriving (default 1m): 404 if no provider was
	// found in that time, 504 if providers were found but stalled. A
	// transfer that keeps moving is never cut off.
	FetchTimeout time.Duration
	// MaxUploadSize bounds an upload's body (default 64 GiB); past it the
	// upload fails with 413 and nothing is acknowledged.
	MaxUploadSize int64
	// MaxFetches bounds the reads of content not held here that are served
	// at once (default 64); past it a read gets 503 with Retry-After, so a
	// flood of requests for absent content cannot tie up the node.
	MaxFetches int
	// ClientTimeout is how long a client may go without taking response
	// bytes or sending request body bytes (default 30s); then its
	// connection is closed, so a stalled client holds no goroutine for
	// ever. A client that keeps moving is never cut off.
	ClientTimeout time.Duration
	// MaxCARRepeats and MaxCARRepeatBytes bound the blocks a CAR response
	// with dups=y sends again, and their bytes (defaults 1,000,000 and
	// 4 GiB): past either the stream ends (X-Stream-Error trailer), so a
	// small hostile DAG whose blocks link the next thousands of times
	// cannot make the gateway send billions of blocks.
	MaxCARRepeats     int
	MaxCARRepeatBytes int64
	// Registry receives the gateway's metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Console, if set, serves GET / and /console/ (the web console);
	// without it / is a 404. It answers only at APIHosts, as the API
	// does, since it shows what the API's open reads show.
	Console http.Handler
}

// Server is the HTTP handler of a node.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
	fetches chan struct{} // a token per read of content not held here
}

// New builds the handler.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("gateway: no backend")
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("gateway: API token missing or too short")
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = time.Minute
	}
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = 64 << 30
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = 64
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = 30 * time.Second
	}
	if cfg.MaxCARRepeats <= 0 {
		cfg.MaxCARRepeats = 1_000_000
	}
	if cfg.MaxCARRepeatBytes <= 0 {
		cfg.MaxCARRepeatBytes = 4 << 30
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), fetches: make(chan struct{}, cfg.MaxFetches)}
	s.metrics = newMetrics(cfg.Registry, cfg.Backend)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /api/v1/id", s.handleID)
	s.mux.HandleFunc("GET /api/v1/auth/proof", s.handleProof)
	s.mux.HandleFunc("GET /api/v1/peers", s.handlePeers)
	s.mux.HandleFunc("POST /api/v1/peers/connect", s.auth(s.handleConnect))
	s.mux.HandleFunc("GET /api/v1/providers/{cid}", s.handleProviders)
	s.mux.HandleFunc("POST /api/v1/add", s.auth(s.handleAdd))
	s.mux.HandleFunc("GET /api/v1/stat/{cid}", s.handleStat)
	s.mux.HandleFunc("GET /api/v1/stat/{cid}/{path...}", s.handleStat)
	s.mux.HandleFunc("GET /api/v1/resolve/{cid}", s.handleResolve)
	s.mux.HandleFunc("GET /api/v1/resolve/{cid}/{path...}", s.handleResolve)
	s.mux.HandleFunc("GET /api/v1/ls/{cid}", s.handleLs)
	s.mux.HandleFunc("GET /api/v1/ls/{cid}/{path...}", s.handleLs)
	s.mux.HandleFunc("POST /api/v1/dag/import", s.auth(s.handleDagImport))
	s.mux.HandleFunc("GET /api/v1/dag/export/{cid}", s.handleDagExport)
	s.mux.HandleFunc("GET /api/v1/repo/stat", s.handleRepoStat)
	s.mux.HandleFunc("POST /api/v1/repo/verify", s.auth(s.handleVerify))
	s.mux.HandleFunc("POST /api/v1/repo/gc", s.auth(s.handleGC))
	s.mux.HandleFunc("POST /api/v1/drain", s.auth(s.handleDrain))
	s.mux.HandleFunc("GET /api/v1/replicas/{cid}", s.handleReplicas)
	s.mux.HandleFunc("GET /api/v1/pins", s.handlePins)
	s.mux.HandleFunc("POST /api/v1/pins/{cid}", s.auth(s.handlePin))
	s.mux.HandleFunc("DELETE /api/v1/pins/{cid}", s.auth(s.handleUnpin))
	s.mux.HandleFunc("GET /api/v1/status", s.handleStatus)
	s.mux.HandleFunc("GET /api/v1/status/{cid}", s.handlePinStatus)
	s.mux.HandleFunc("GET /ipfs/{cid}", s.handleIPFS)
	s.mux.HandleFunc("HEAD /ipfs/{cid}", s.handleIPFS)
	s.mux.HandleFunc("GET /ipfs/{cid}/{path...}", s.handleIPFS)
	s.mux.HandleFunc("HEAD /ipfs/{cid}/{path...}", s.handleIPFS)
	s.mux.HandleFunc("OPTIONS /ipfs/{cid}", s.handleIPFSOptions)
	s.mux.HandleFunc("OPTIONS /ipfs/{cid}/{path...}", s.handleIPFSOptions)
	s.mux.HandleFunc("POST /ipfs/{$}", s.auth(s.handleUpload))
	if s.cfg.Console != nil {
		s.mux.Handle("GET /{$}", s.cfg.Console)
		s.mux.Handle("GET /console/", s.cfg.Console)
	}
}

// hostChecked says whether a path answers only at APIHosts: the API, and
// the console, whose pages show what the API's open reads show.
func hostChecked(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/" || strings.HasPrefix(path, "/console/")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{
		ResponseWriter: w,
		rc:             http.NewResponseController(w),
		idle:           s.cfg.ClientTimeout,
		start:          time.Now(),
		status:         http.StatusOK,
	}
	// net/http leaves a write deadline in place across keep-alive
	// requests; start each request with a fresh one.
	rec.rc.SetWriteDeadline(rec.start.Add(rec.idle))
	if r.Body != nil && r.Body != http.NoBody {
		// Also bounds net/http's draining of a body the handler left unread.
		rec.rc.SetReadDeadline(rec.start.Add(rec.idle))
		r.Body = &idleReader{ReadCloser: r.Body, rc: rec.rc, idle: s.cfg.ClientTimeout}
	}
	if hostChecked(r.URL.Path) && len(s.cfg.APIHosts) > 0 && !slices.Contains(s.cfg.APIHosts, strings.ToLower(r.Host)) {
		writeError(rec, http.StatusMisdirectedRequest, fmt.Errorf("the API answers only at %s, not %q", strings.Join(s.cfg.APIHosts, ", "), r.Host))
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	route := routeOf(r.Pattern)
	s.metrics.requests.WithLabelValues(strconv.Itoa(rec.status)).Inc()
	if rec.bytes > 0 {
		s.metrics.bytes.WithLabelValues(route).Add(float64(rec.bytes))
		s.metrics.ttfb.WithLabelValues(route).Observe(rec.firstByte.Sub(rec.start).Seconds())
	}
}

// routeOf names the part of the API a matched pattern belongs to, a label
// with few values: "ipfs", "api", "console", "metrics" or "other".
func routeOf(pattern string) string {
	_, path, _ := strings.Cut(pattern, " ")
	switch {
	case strings.HasPrefix(path, "/ipfs/"):
		return "ipfs"
	case strings.HasPrefix(path, "/api/"):
		return "api"
	case path == "/{$}" || strings.HasPrefix(path, "/console/"):
		return "console"
	case path == "/metrics":
		return "metrics"
	}
	return "other"
}

// acquireFetch takes a fetch slot for a read of c when c is not held
// here; it answers 503 itself and returns false when none is free. The
// returned func gives the slot back.
func (s *Server) acquireFetch(w http.ResponseWriter, c cid.Cid) (release func(), ok bool) {
	if s.cfg.Backend.Has(c) {
		return func() {}, true
	}
	select {
	case s.fetches <- struct{}{}:
		return func() { <-s.fetches }, true
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%d reads of content not held here are in flight; try again shortly", cap(s.fetches)))
		return nil, false
	}
}

// acquireSlot takes a fetch slot whether or not the content is held, for
// the routes that cost network work either way (DHT lookups, probes of
// every block's holders).
func (s *Server) acquireSlot(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case s.fetches <- struct{}{}:
		return func() { <-s.fetches }, true
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%d network reads are in flight; try again shortly", cap(s.fetches)))
		return nil, false
	}
}

// auth admits requests carrying the repo's token.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cairn"`)
			writeError(w, http.StatusUnauthorized, errors.New("this call needs Authorization: Bearer with the repo's api-token"))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON of every error reply.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, ErrorBody{Error: err.Error()})
}

// recorder notes a response's status, size and time to first byte, and
// pushes the connection's write deadline forward before every write, so a
// client that stops reading is cut off after the idle timeout while one
// that keeps reading is not.
type recorder struct {
	http.ResponseWriter
	rc        *http.ResponseController
	idle      time.Duration
	start     time.Time
	firstByte time.Time
	status    int
	wrote     bool
	bytes     int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.bytes == 0 && len(p) > 0 {
		r.firstByte = time.Now()
	}
	r.wrote = true
	r.rc.SetWriteDeadline(time.Now().Add(r.idle))
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	r.rc.SetWriteDeadline(time.Now().Add(r.idle))
	r.rc.Flush()
}

// ReadFrom copies a body (http.ServeContent's io.CopyN lands here) in
// writes of up to a leaf, 256 KiB, where io.Copy would write 32 KiB at a
// time: a large file goes out in an eighth of the write syscalls and
// deadline updates. A file's reader under io.CopyN's limit is written
// straight from its blocks, sparing a copy of every byte.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		if nx, ok := nexterOf(lr.R); ok {
			return r.writeNext(nx, lr)
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(writerOnly{r}, src, *bp)
}

// nexter hands out its bytes without copying them, each slice valid until
// its next call: a chunk.Reader, or the node.Stream around one.
type nexter interface {
	Next(max int) ([]byte, error)
}

// nexterOf returns src's reads without a copy, if it has them; through
// the wrapper serveFile closes the file with.
func nexterOf(src io.Reader) (nexter, bool) {
	if c, ok := src.(*closeAfterReads); ok {
		if _, ok := c.f.(nexter); !ok {
			return nil, false
		}
	}
	nx, ok := src.(nexter)
	return nx, ok
}

// writeNext writes lr's bytes (at most lr.N, which it counts down as
// io.LimitedReader would) from nx's own buffers.
func (r *recorder) writeNext(nx nexter, lr *io.LimitedReader) (int64, error) {
	if b, ok := nx.(interface{ ReadAheadUntil(n int64) }); ok {
		b.ReadAheadUntil(lr.N) // a range reads no block past its end
	}
	var total int64
	for lr.N > 0 {
		b, err := nx.Next(int(min(lr.N, 1<<20)))
		if len(b) > 0 {
			n, werr := r.Write(b)
			total += int64(n)
			lr.N -= int64(n)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// copyBufs holds ReadFrom's buffers; each is used by one copy at a time
// and holds nothing once the copy returns.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 256<<10)
	return &b
}}

// writerOnly hides ReadFrom, so that io.CopyBuffer does not call it back.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the connection underneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// idleReader pushes the connection's read deadline forward before every
// read of a request body: an upload that stalls is cut off, a slow one
// that keeps moving is not.
type idleReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleReader) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// Past the body, net/http reads in the background to notice a
		// client hanging up, and a timeout there would cancel the
		// request while the handler still works on it. (After other
		// errors the deadline stays, so net/http's draining of the rest
		// fails fast and the connection is closed.)
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
