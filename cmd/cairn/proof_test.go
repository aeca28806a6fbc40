package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node/repo"
)

// A program that took a dead daemon's port answers /api/v1/id with the
// repo's (public) peer ID: the CLI asks it to prove it knows the token
// before sending the token, and, with no proof, sends it nothing and
// works without a daemon.
func TestTheCLISendsTheTokenOnlyToADaemonThatProvesItKnowsIt(t *testing.T) {
	dir := newRepo(t)
	cfg, err := repo.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := repo.ReadAPIToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sawToken atomic.Bool
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), token) {
			sawToken.Store(true)
		}
		switch r.URL.Path {
		case "/api/v1/id":
			json.NewEncoder(w).Encode(gateway.IDResponse{ID: cfg.Identity.PeerID})
		case "/api/v1/auth/proof":
			json.NewEncoder(w).Encode(gateway.ProofResponse{Proof: strings.Repeat("0", 64)})
		default:
			json.NewEncoder(w).Encode(gateway.PeersResponse{})
		}
	}))
	defer impostor.Close()
	if err := os.WriteFile(repo.APIFilePath(dir), []byte(impostor.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A command that runs without a daemon too: it must run offline.
	r := cairn(t, dir, nil, "repo", "stat")
	if r.code != 0 {
		t.Fatalf("repo stat: exit %d: %s", r.code, r.stderr)
	}
	// One that needs a daemon: no daemon, and no token sent.
	if r := cairn(t, dir, nil, "pin", "ls"); r.code == 0 {
		t.Fatalf("pin ls through an impostor succeeded: %s", r.stdout)
	}
	if sawToken.Load() {
		t.Fatal("the impostor was sent the token")
	}
}
