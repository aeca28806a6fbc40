package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
	case errors.Is(err, node.ErrNoProvider):
		return http.StatusNotFound
	case errors.Is(err, node.ErrStalled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, chunk.ErrNotFile), errors.Is(err, chunk.ErrUnsupportedCodec):
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

func (s *Server) handleID(w http.ResponseWriter, _ *http.Request) {
	n := s.cfg.Node
	out := IDResponse{ID: n.ID().String(), Addresses: []string{}}
	for _, a := range n.Addrs() {
		out.Addresses = append(out.Addresses, a.String())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePeers(w http.ResponseWriter, _ *http.Request) {
	out := PeersResponse{Peers: []PeerInfo{}}
	for _, c := range s.cfg.Node.Host().Network().Conns() {
		out.Peers = append(out.Peers, PeerInfo{ID: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	addr, err := ma.NewMultiaddr(r.URL.Query().Get("addr"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid multiaddr %q: %w", r.URL.Query().Get("addr"), err))
		return
	}
	ai, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%s: %w (the address must end in /p2p/PEERID)", addr, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.cfg.Node.Connect(ctx, *ai); err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, PeerInfo{ID: ai.ID.String(), Addr: addr.String()})
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
	provs, st, err := s.cfg.Node.FindProviders(ctx, c, max)
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	out := ProvidersResponse{Providers: []PeerInfo{}, RPCs: st.RPCs, Hops: st.Hops}
	for _, p := range provs {
		info := PeerInfo{ID: p.ID.String()}
		if len(p.Addrs) > 0 {
			info.Addr = p.Addrs[0].String()
		}
		out.Providers = append(out.Providers, info)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	h, err := chunk.ParseHashFunc(r.URL.Query().Get("hash"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize)
	res, err := s.cfg.Node.Add(r.Context(), body, chunk.AddOptions{Hash: h})
	if err != nil {
		s.addFailed(w, err)
		return
	}
	w.Header().Set("Location", "/ipfs/"+res.Root.String())
	writeJSON(w, http.StatusCreated, AddResponse{Cid: res.Root.String(), Size: res.Size, Blocks: res.Blocks,
		Copies: res.Copies, WriteQuorum: s.cfg.Node.WriteQuorum()})
}

func (s *Server) handleStat(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	// Replicas fetches what is missing and lists every distinct block once,
	// which is the block count too.
	reps, err := s.cfg.Node.Replicas(r.Context(), c, node.FetchOptions{StallTimeout: s.cfg.FetchTimeout})
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	st, err := chunk.StatDAG(r.Context(), s.cfg.Node.Store(), c)
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, StatResponse{CID: c.String(), Size: st.Size, Blocks: len(reps), RootType: st.RootType,
		MinLive: node.MinLive(reps), Factor: s.cfg.Node.Factor()})
}

func (s *Server) handleRepoStat(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Node.Store().Stats()
	writeJSON(w, http.StatusOK, RepoStatResponse{Blocks: st.Blocks, Bytes: st.Bytes, Segments: st.Segments, SegmentBytes: st.SegmentBytes, Garbage: st.Garbage})
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	res, err := s.cfg.Node.Store().Verify(r.Context(), nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := VerifyResponse{Checked: res.Checked, Failed: []VerifyFailure{}}
	for _, f := range res.Failed {
		out.Failed = append(out.Failed, VerifyFailure{Hash: f.Hash.B58String(), Error: f.Err.Error()})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleIPFS serves a file's bytes as they arrive: single Range requests
// (206, 416), If-None-Match (304), HEAD, an ETag of the CID and immutable
// caching, as content addressing allows; or, asked for, the trustless raw
// and CAR forms.
func (s *Server) handleIPFS(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Vary", "Accept")
	format, err := responseFormat(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	release, ok := s.acquireFetch(w, c)
	if !ok {
		return
	}
	defer release()
	switch format {
	case mimeRaw:
		s.serveRaw(w, r, c)
		return
	case mimeCAR:
		s.serveCAR(w, r, c)
		return
	}
	etag := `"` + c.String() + `"`
	if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == "*") {
		h.Set("Etag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// Stream: bytes go out as their blocks arrive, the first long before
	// the last block of a large file is fetched.
	rd, err := s.cfg.Node.Stream(r.Context(), c, node.FetchOptions{StallTimeout: s.cfg.FetchTimeout})
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	defer rd.Close()
	immutable(h, etag)
	fileHeaders(h, r)
	// ServeContent sniffs the type from the first bytes (seeking back),
	// answers Range and conditional requests, and skips the body on HEAD.
	http.ServeContent(w, r, "", time.Time{}, rd)
}

func (s *Server) handleGC(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Node.GC(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, GCResponse{Kept: st.Kept, Removed: st.Removed, Reclaimed: st.Reclaimed})
}

func (s *Server) handlePins(w http.ResponseWriter, _ *http.Request) {
	pins, err := s.cfg.Node.Store().Pins()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := PinsResponse{Pins: []string{}}
	for _, c := range pins {
		out.Pins = append(out.Pins, c.String())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePin(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Node.Pin(r.Context(), c, node.FetchOptions{StallTimeout: s.cfg.FetchTimeout}); err != nil {
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
	if err := s.cfg.Node.Store().Unpin(c); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotPinned) {
			status = http.StatusNotFound
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, PinsResponse{Pins: []string{}})
}

func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Node.Drain(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, DrainResponse{Chunks: st.Chunks, Pushed: st.Pushed})
}

func (s *Server) handleReplicas(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	reps, err := s.cfg.Node.Replicas(r.Context(), c, node.FetchOptions{StallTimeout: s.cfg.FetchTimeout})
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	out := ReplicasResponse{MinLive: node.MinLive(reps), Chunks: []ChunkReplicas{}}
	for _, cr := range reps {
		hs := make([]string, len(cr.Holders))
		for j, h := range cr.Holders {
			hs[j] = h.String()
		}
		out.Chunks = append(out.Chunks, ChunkReplicas{CID: cr.CID.String(), Live: cr.Live, Holders: hs})
	}
	writeJSON(w, http.StatusOK, out)
}
