package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
)

// The token proof lets a client check that what answers at the API's
// address knows the token before it sends it: after a daemon dies,
// another program can take its port and answer /api/v1/id with the
// (public) peer ID, but it cannot answer a fresh nonce's proof.

// ProofResponse answers GET /api/v1/auth/proof?nonce=HEX.
type ProofResponse struct {
	Proof string `json:"proof"` // hex HMAC-SHA256 of the nonce under the token
}

// Nonce bounds, in bytes.
const (
	minNonce = 16
	maxNonce = 64
)

// TokenProof is the proof of a nonce under token: what a client computes
// to check the daemon's answer.
func TokenProof(token string, nonce []byte) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("cairn api token proof\x00"))
	m.Write(nonce)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) {
	nonce, err := hex.DecodeString(r.URL.Query().Get("nonce"))
	if err != nil || len(nonce) < minNonce || len(nonce) > maxNonce {
		writeError(w, http.StatusBadRequest, errors.New("nonce: 16 to 64 bytes, in hex"))
		return
	}
	writeJSON(w, http.StatusOK, ProofResponse{Proof: TokenProof(s.cfg.Token, nonce)})
}
