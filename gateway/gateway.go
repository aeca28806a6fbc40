// Package gateway serves a cairn node over HTTP: reads of /ipfs/{cid} for
// anyone, the /api/v1/ JSON API that the CLI and tools use (writes and
// admin calls need the repo's API token as a Bearer token, from every
// client, loopback included), Prometheus metrics on /metrics and a
// liveness probe on /healthz.
//
// API (all JSON unless noted; errors are {"error": "..."} with a 4xx/5xx):
//
//	GET  /api/v1/id                       {"ID", "Addresses"}
//	GET  /api/v1/peers                    {"Peers": [{"ID", "Addr"}]}
//	POST /api/v1/peers/connect?addr=MA    connect to a peer (auth)
//	GET  /api/v1/providers/{cid}?max=N    {"Providers", "RPCs", "Hops"}
//	POST /api/v1/add?hash=H               body: the file (auth); {"Cid", "Size", "Blocks"}
//	GET  /api/v1/stat/{cid}               {"cid", "size", "blocks", "type"}
//	GET  /api/v1/repo/stat                {"blocks", "bytes", "segments", "segment_bytes", "garbage"}
//	POST /api/v1/repo/verify              {"checked", "failed": [{"hash", "error"}]} (auth)
//	POST /api/v1/repo/gc                  {"kept", "removed", "reclaimed"} (auth)
//	POST /api/v1/drain                    hand every chunk to other peers (auth)
//	GET  /api/v1/replicas/{cid}           {"min_live", "chunks": [{"cid", "live", "holders"}]}
//	GET  /api/v1/pins                     {"Pins": [cid...]}
//	POST /api/v1/pins/{cid}               pin, fetching what is missing (auth)
//	DELETE /api/v1/pins/{cid}             unpin (auth)
//	GET  /ipfs/{cid}                      the file (Range, If-None-Match, ?filename=);
//	                                      ?format=raw or Accept: application/vnd.ipld.raw: one block;
//	                                      ?format=car or Accept: application/vnd.ipld.car: a CARv1 of the DAG
//	POST /ipfs/                           upload: body is the file, or the file part of multipart (auth)
package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cairnstore/cairn/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a gateway.
type Config struct {
	Node *node.Node
	// Token is the bearer token writes and admin calls need.
	Token string
	// FetchTimeout is how long a read of content the node must fetch may
	// go without a block arriving (default 1m): 404 if no provider was
	// found in that time, 504 if providers were found but stalled. A
	// transfer that keeps moving is never cut off.
	FetchTimeout time.Duration
	// MaxUploadSize bounds an upload's body (default 64 GiB); past it the
	// upload fails with 413 and nothing is acknowledged.
	MaxUploadSize int64
	// Registry receives the gateway's metrics; nil makes a fresh one.
	Registry *prometheus.Registry
}

// Server is the HTTP handler of a node.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
}

// New builds the handler.
func New(cfg Config) (*Server, error) {
	if cfg.Node == nil {
		return nil, errors.New("gateway: no node")
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
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.metrics = newMetrics(cfg.Registry, cfg.Node)
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
	s.mux.HandleFunc("GET /api/v1/peers", s.handlePeers)
	s.mux.HandleFunc("POST /api/v1/peers/connect", s.auth(s.handleConnect))
	s.mux.HandleFunc("GET /api/v1/providers/{cid}", s.handleProviders)
	s.mux.HandleFunc("POST /api/v1/add", s.auth(s.handleAdd))
	s.mux.HandleFunc("GET /api/v1/stat/{cid}", s.handleStat)
	s.mux.HandleFunc("GET /api/v1/repo/stat", s.handleRepoStat)
	s.mux.HandleFunc("POST /api/v1/repo/verify", s.auth(s.handleVerify))
	s.mux.HandleFunc("POST /api/v1/repo/gc", s.auth(s.handleGC))
	s.mux.HandleFunc("POST /api/v1/drain", s.auth(s.handleDrain))
	s.mux.HandleFunc("GET /api/v1/replicas/{cid}", s.handleReplicas)
	s.mux.HandleFunc("GET /api/v1/pins", s.handlePins)
	s.mux.HandleFunc("POST /api/v1/pins/{cid}", s.auth(s.handlePin))
	s.mux.HandleFunc("DELETE /api/v1/pins/{cid}", s.auth(s.handleUnpin))
	s.mux.HandleFunc("GET /ipfs/{cid}", s.handleIPFS)
	s.mux.HandleFunc("HEAD /ipfs/{cid}", s.handleIPFS)
	s.mux.HandleFunc("POST /ipfs/{$}", s.auth(s.handleUpload))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.metrics.requests.WithLabelValues(http.StatusText(rec.status)).Inc()
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

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
