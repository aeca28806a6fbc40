package nodeapi

import (
	"errors"
	"testing"

	"github.com/cairnstore/cairn/gateway"
)

// FuzzParseDialAddr reads any text as the multiaddr of `swarm connect`
// and POST /api/v1/peers/connect: no panic; a refusal wraps ErrInvalid
// (a 400, not a 502); an address it accepts names a peer and prints as
// text that parses again.
func FuzzParseDialAddr(f *testing.F) {
	f.Add("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	f.Add("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	f.Add("/ip6/::1/tcp/1")
	f.Add("/dns4/example.org/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Add("/p2p-circuit")
	f.Fuzz(func(t *testing.T, s string) {
		a, ai, err := ParseDialAddr(s)
		if err != nil {
			if !errors.Is(err, gateway.ErrInvalid) {
				t.Fatalf("refusal of %q does not wrap ErrInvalid: %v", s, err)
			}
			return
		}
		if ai.ID == "" {
			t.Fatalf("%q accepted with no peer", s)
		}
		if _, _, err := ParseDialAddr(a.String()); err != nil {
			t.Fatalf("%q accepted, printed as %q, which is refused: %v", s, a, err)
		}
	})
}
