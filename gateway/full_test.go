package gateway_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// A node whose store has no room serves files, folders and CARs it does
// not hold, passing the blocks through from a holder, rather than
// answering 507.
func TestAFullNodesGatewayServesContentItHasNoRoomToKeep(t *testing.T) {
	hs := linkedHosts(t, 2, mocknet.LinkOptions{})
	ha, hb := hs[0], hs[1]
	a := mockNode(t, ha)
	b := nodetest.Start(t, node.WithHost(hb), node.WithBootstrap(peer.AddrInfo{ID: ha.ID(), Addrs: ha.Addrs()}),
		node.WithReplication(node.ReplicationConfig{Disabled: true}), node.WithStoreOptions(store.Options{Capacity: 1}))
	big := strings.Repeat("cairn passes this through. ", 3*chunk.ChunkSize/27)
	root := addFolder(t, a, map[string]string{"big.txt": big, "sub/small.txt": "small"})

	gw, err := gateway.New(gateway.Config{Backend: &nodeapi.Online{N: b}, Token: testToken, FetchTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		path, want string
	}{
		{"/ipfs/" + root + "/big.txt", big},
		{"/ipfs/" + root + "/sub/small.txt", "small"},
		{"/ipfs/" + root + "/", "big.txt"}, // the listing
	} {
		resp, body := get(t, srv.URL+tc.path)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
			t.Fatalf("GET %s through the full node: %d, %d bytes (want 200 with %.20q)", tc.path, resp.StatusCode, len(body), tc.want)
		}
		if strings.HasSuffix(tc.path, ".txt") && body != tc.want {
			t.Fatalf("GET %s: %d bytes that differ", tc.path, len(body))
		}
	}
	resp, car := get(t, srv.URL+"/ipfs/"+root+"?format=car")
	if resp.StatusCode != 200 || !bytes.Contains([]byte(car), []byte("small")) {
		t.Fatalf("CAR through the full node: %d, %d bytes", resp.StatusCode, len(car))
	}
	if held := b.Stats().Blocks; held != 0 {
		t.Fatalf("the full node kept %d blocks", held)
	}
	if _, m := get(t, srv.URL+"/metrics"); !strings.Contains(m, "cairn_passed_through_blocks_total") || strings.Contains(m, "cairn_passed_through_blocks_total 0\n") {
		t.Fatalf("metrics do not count the blocks passed through:\n%s", m)
	}
}
