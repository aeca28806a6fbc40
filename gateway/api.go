package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// The API's JSON bodies, shared with the CLI.
type (
	IDResponse struct {
		ID        string
		Addresses []string
	}
	PeerInfo struct {
		ID   string
		Addr string
	}
	PeersResponse struct {
		Peers []PeerInfo
	}
	ProvidersResponse struct {
		Providers []PeerInfo
		RPCs      int
		Hops      int
	}
	AddResponse struct {
		Cid    string
		Size   uint64
		Blocks int
		// Copies is the fewest durable copies any block has (the write
		// quorum, or fewer when there were not enough peers).
		Copies int
		// WriteQuorum is the copies that were wanted before returning.
		WriteQuorum int `json:",omitempty"`
		// Files and Dirs count a tree's entries (a folder upload).
		Files int `json:",omitempty"`
		Dirs  int `json:",omitempty"`
	}
	StatResponse struct {
		CID      string `json:"cid"`
		Size     uint64 `json:"size"`
		Blocks   int    `json:"blocks"`
		RootType string `json:"type"`
		// Through the daemon: the fewest live copies of any block, and R.
		MinLive int `json:"min_live,omitempty"`
		Factor  int `json:"factor,omitempty"`
	}
	RepoStatResponse struct {
		Path         string `json:"path,omitempty"`
		Blocks       int64  `json:"blocks"`
		Bytes        int64  `json:"bytes"`
		Segments     int    `json:"segments"`
		SegmentBytes int64  `json:"segment_bytes"`
		Garbage      int64  `json:"garbage"`
	}
	VerifyFailure struct {
		Hash  string `json:"hash"`
		Error string `json:"error"`
	}
	VerifyResponse struct {
		Checked int64           `json:"checked"`
		Failed  []VerifyFailure `json:"failed"`
	}
	GCResponse struct {
		Kept      int64 `json:"kept"`
		Removed   int64 `json:"removed"`
		Reclaimed int64 `json:"reclaimed"`
	}
	PinsResponse struct {
		Pins []string
	}
	DrainResponse struct {
		Chunks int `json:"chunks"`
		Pushed int `json:"pushed"`
	}
	ChunkReplicas struct {
		CID     string   `json:"cid"`
		Live    int      `json:"live"`
		Holders []string `json:"holders"`
	}
	ReplicasResponse struct {
		MinLive int             `json:"min_live"`
		Chunks  []ChunkReplicas `json:"chunks"`
	}
)

func (s *Server) cidParam(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	c, err := chunk.ParseCID(r.PathValue("cid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return cid.Undef, false
	}
	return c, true
}

// fetchStatus maps a failed fetch to an HTTP status.
func fetchStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoProvider), errors.Is(err, ErrNotPinned):
		return http.StatusNotFound
	case errors.Is(err, ErrStalled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, chunk.ErrNotFile), errors.Is(err, chunk.ErrUnsupportedCodec), errors.Is(err, ErrInvalid),
		errors.Is(err, chunk.ErrBadDAG), errors.Is(err, chunk.ErrBadNode):
		return http.StatusBadRequest
	case errors.Is(err, ErrFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, ErrOffline):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

func (s *Server) handleID(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Identity())
}

func (s *Server) handlePeers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, PeersResponse{Peers: s.cfg.Backend.Peers()})
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	info, err := s.cfg.Backend.Connect(ctx, r.URL.Query().Get("addr"))
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrInvalid) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	max := 20
	if v := r.URL.Query().Get("max"); v != "" {
		if m, err := strconv.Atoi(v); err == nil && m > 0 {
			max = m
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.FetchTimeout)
	defer cancel()
	out, err := s.cfg.Backend.Providers(ctx, c, max)
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	h, err := chunk.ParseHashFunc(r.URL.Query().Get("hash"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.upload(w, r, chunk.AddOptions{Hash: h})
}

// LsResponse lists a folder.
type LsResponse struct {
	Entries []DirEntry
}

// pathParam is the CID the request's {cid}/{path} names, resolved; it
// answers the error itself and returns false on failure.
func (s *Server) pathParam(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return c, false
	}
	if p := r.PathValue("path"); p != "" {
		var err error
		if c, err = s.cfg.Backend.Resolve(r.Context(), c, p, s.readOpts()); err != nil {
			writeError(w, pathStatus(err), err)
			return c, false
		}
	}
	return c, true
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathParam(w, r)
	if !ok {
		return
	}
	d, err := s.cfg.Backend.Describe(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleLs(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathParam(w, r)
	if !ok {
		return
	}
	entries, err := s.cfg.Backend.List(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, pathStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, LsResponse{Entries: entries})
}

func (s *Server) handleStat(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathParam(w, r)
	if !ok {
		return
	}
	out, err := s.cfg.Backend.Stat(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRepoStat(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Backend.RepoStat(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out.Path = "" // the daemon's file system is its own business
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Backend.Verify(r.Context(), nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// readOpts are the options of a read that may have to fetch.
func (s *Server) readOpts() ReadOptions { return ReadOptions{StallTimeout: s.cfg.FetchTimeout} }

func (s *Server) handleGC(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Backend.GC(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePins(w http.ResponseWriter, r *http.Request) {
	pins, err := s.cfg.Backend.Pins(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, PinsResponse{Pins: append([]string{}, pins...)})
}

func (s *Server) handlePin(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Backend.Pin(r.Context(), c, s.readOpts()); err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, PinsResponse{Pins: []string{c.String()}})
}

func (s *Server) handleUnpin(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Backend.Unpin(r.Context(), c); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNotPinned) {
			status = http.StatusNotFound
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, PinsResponse{Pins: []string{}})
}

func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Backend.Drain(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleReplicas(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	out, err := s.cfg.Backend.Replicas(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
