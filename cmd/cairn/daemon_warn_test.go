package main

import (
	"strings"
	"testing"

	"github.com/cairnstore/cairn/node/repo"
	ma "github.com/multiformats/go-multiaddr"
)

func TestTheDaemonWarnsOfAnOpenSwarmAnyPeerMayWriteTo(t *testing.T) {
	loop := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}
	lan := append(loop, ma.StringCast("/ip4/10.77.0.2/tcp/4001"))
	open := t.TempDir()
	private := t.TempDir()
	if err := repo.GenerateSwarmKey(private); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		repo    string
		writers []string
		addrs   []ma.Multiaddr
		warn    bool
	}{
		{"open swarm on a LAN address", open, nil, lan, true},
		{"open swarm on loopback only", open, nil, loop, false},
		{"open swarm with writers", open, []string{"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"}, lan, false},
		{"private swarm", private, nil, lan, false},
	} {
		got := openSwarmWarning(tc.repo, tc.writers, tc.addrs)
		if (got != "") != tc.warn || tc.warn && !strings.Contains(got, "10.77.0.2") {
			t.Errorf("%s: warning %q, want one: %v", tc.name, got, tc.warn)
		}
	}
}
