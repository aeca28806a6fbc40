package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cairnstore/cairn/chunk"
)

// ImportResponse describes a CAR import.
type ImportResponse struct {
	Roots  []ImportRoot `json:"roots"`
	Blocks int          `json:"blocks"`
	Bytes  uint64       `json:"bytes"`
}

// ImportRoot is one root a CAR named: pinned, or why its DAG is not all
// here (imported, not pinned).
type ImportRoot struct {
	CID        string `json:"cid"`
	Pinned     bool   `json:"pinned"`
	Incomplete string `json:"incomplete,omitempty"`
}

// handleDagImport is POST /api/v1/dag/import?pin-roots=BOOL: the body is a
// CAR (v1 or v2).
func (s *Server) handleDagImport(w http.ResponseWriter, r *http.Request) {
	pin := true
	if v := r.URL.Query().Get("pin-roots"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("pin-roots=%q: want true or false", v))
			return
		}
		pin = b
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize)
	res, err := s.cfg.Backend.ImportCAR(r.Context(), body, pin)
	if err != nil {
		s.addFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handleDagExport is GET /api/v1/dag/export/{cid}: the DAG as a CARv1,
// as /ipfs/{cid}?format=car serves it.
func (s *Server) handleDagExport(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	release, ok := s.acquireFetch(w, c)
	if !ok {
		return
	}
	defer release()
	s.serveCAR(w, r, c, "")
}

// badBlock says whether err is a block the client sent that cairn cannot
// keep: it does not match its CID, or its codec, hash or size is refused.
func badBlock(err error) bool {
	for _, e := range []error{chunk.ErrHashMismatch, chunk.ErrTooLarge, chunk.ErrBadNode,
		chunk.ErrUnsupportedHash, chunk.ErrUnsupportedCodec, ErrInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
