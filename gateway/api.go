package gateway

import (
	"context"
	"errors"
	"fmt"
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
	// PinRequest is what a pin records in the cluster's set besides its
	// root.
	PinRequest struct {
		Name     string // a label for people; not unique
		Replicas int    // copies wanted; 0 means the cluster's R
	}
	// PinResult is how far a pin got.
	PinResult struct {
		// Copies is how many nodes hold the pin's entry in the set (the
		// write quorum, or fewer when there are not that many nodes).
		Copies int
	}
	// PinInfo is an entry of the cluster's pin set.
	PinInfo struct {
		CID      string    `json:"cid"`
		Name     string    `json:"name"`
		Replicas int       `json:"replicas"` // 0: the cluster's R
		By       string    `json:"by"`       // the peer that pinned it
		At       time.Time `json:"at"`       // when, by that peer's clock
		Bytes    uint64    `json:"bytes"`    // the DAG's size
	}
	// PinsResponse lists the set (100,000 pins make 20 MB of it: no
	// second list of the bare CIDs rides along).
	PinsResponse struct {
		Entries []PinInfo
	}
	// PinResponse answers a pin add; Pins is the pinned CID, as before.
	PinResponse struct {
		Pins   []string
		Copies int
	}
	// NodeStatus is one node of the cluster as the answering node last
	// heard of it.
	NodeStatus struct {
		ID              string    `json:"id"`
		State           string    `json:"state"` // "up", "down" or "draining"
		Used            int64     `json:"used"`
		Capacity        int64     `json:"capacity"`
		Blocks          int64     `json:"blocks"`
		UnderReplicated int64     `json:"under_replicated"` // chunks below R at its last repair walk
		Repairing       int64     `json:"repairing"`        // repairs waiting in its current walk
		LastSeen        time.Time `json:"last_seen"`
	}
	// PinTotals sums the cluster's pin set.
	PinTotals struct {
		Count int    `json:"count"`
		Bytes uint64 `json:"bytes"`
	}
	// ClusterStatus is what `cairn status --json` prints; tools parse it,
	// so its keys are fixed.
	ClusterStatus struct {
		Nodes []NodeStatus `json:"nodes"`
		Pins  PinTotals    `json:"pins"`
	}
	// PinStatus is a pin's entry with the live copies of its blocks.
	PinStatus struct {
		Pin PinInfo `json:"pin"`
		// Factor is the copies every chunk is kept at: the cluster's R.
		Factor  int             `json:"factor"`
		MinLive int             `json:"min_live"`
		Chunks  []ChunkReplicas `json:"chunks"`
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

// MaxProviders bounds the max parameter of the providers route.
const MaxProviders = 100

func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	max := 20
	if v := r.URL.Query().Get("max"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > MaxProviders {
			writeError(w, http.StatusBadRequest, fmt.Errorf("max=%q: want a number from 1 to %d", v, MaxProviders))
			return
		}
		max = m
	}
	release, ok := s.acquireSlot(w)
	if !ok {
		return
	}
	defer release()
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
	name := r.URL.Query().Get("name")
	if err := CheckPinName(name); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.upload(w, r, chunk.AddOptions{Hash: h, Name: name})
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
		release, ok := s.acquireFetch(w, c) // resolving reads the folders on the way
		if !ok {
			return c, false
		}
		defer release()
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
	release, ok := s.acquireFetch(w, c)
	if !ok {
		return
	}
	defer release()
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
	release, ok := s.acquireFetch(w, c)
	if !ok {
		return
	}
	defer release()
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
	release, ok := s.acquireFetch(w, c)
	if !ok {
		return
	}
	defer release()
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
