package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// clusterStatus maps a failed call on the cluster's pin set to an HTTP
// status: these read no content, so only the sentinels count.
func clusterStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotPinned):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrOffline):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) handlePins(w http.ResponseWriter, r *http.Request) {
	// Streamed as the set is read: 100,000 pins are 20 MB of JSON, and
	// the client works on the first while the last are still read.
	bw := bufio.NewWriterSize(w, 64<<10)
	started := false
	start := func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		bw.WriteString(`{"Entries":[`)
		started = true
	}
	err := s.cfg.Backend.Pins(r.Context(), func(p PinInfo) error {
		if !started {
			start()
		} else {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(p)
		if err == nil {
			_, err = bw.Write(b)
		}
		return err
	})
	switch {
	case err != nil && !started:
		writeError(w, clusterStatus(err), err)
		return
	case err != nil:
		// The status is sent: end the reply short of its closing
		// brackets, so that the client sees a broken list, never a
		// complete one missing pins.
		bw.Flush()
		panic(http.ErrAbortHandler)
	case !started:
		start()
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

// pinRequest reads a pin add's ?name= and ?replicas=, checked here so a
// bad one is refused before the pin fetches anything.
func pinRequest(r *http.Request) (PinRequest, error) {
	q := r.URL.Query()
	req := PinRequest{Name: q.Get("name")}
	if err := CheckPinName(req.Name); err != nil {
		return req, err
	}
	if v := q.Get("replicas"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxPinReplicas {
			return req, fmt.Errorf("%w: replicas %q: want a whole number from 0 (the cluster's R) to %d", ErrInvalid, v, MaxPinReplicas)
		}
		req.Replicas = n
	}
	return req, nil
}

// The limits of the cluster's pin set on an entry (node/pinset checks
// them too; they are repeated here so that a bad name fails an upload
// before its bytes are stored, not after).
const (
	MaxPinName     = 255
	MaxPinReplicas = 64
)

// CheckPinName refuses a name the cluster's pin set would not store.
func CheckPinName(name string) error {
	if len(name) > MaxPinName || strings.ContainsAny(name, "\x00\n\r") {
		return fmt.Errorf("%w: pin name longer than %d bytes or with control characters", ErrInvalid, MaxPinName)
	}
	return nil
}

func (s *Server) handlePin(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	req, err := pinRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := s.cfg.Backend.Pin(r.Context(), c, req, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, PinResponse{Pins: []string{c.String()}, Copies: res.Copies})
}

func (s *Server) handleUnpin(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Backend.Unpin(r.Context(), c); err != nil {
		writeError(w, clusterStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, PinsResponse{Entries: []PinInfo{}})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Backend.ClusterStatus(r.Context())
	if err != nil {
		writeError(w, clusterStatus(err), err)
		return
	}
	if out.Nodes == nil {
		out.Nodes = []NodeStatus{} // [] rather than null: the shape is fixed
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePinStatus(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	release, ok := s.acquireSlot(w) // probes every block's holders, and fetches what is missing
	if !ok {
		return
	}
	defer release()
	out, err := s.cfg.Backend.PinStatus(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	if out.Chunks == nil {
		out.Chunks = []ChunkReplicas{}
	}
	writeJSON(w, http.StatusOK, out)
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
	release, ok := s.acquireSlot(w) // probes every block's holders, held or not
	if !ok {
		return
	}
	defer release()
	out, err := s.cfg.Backend.Replicas(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
