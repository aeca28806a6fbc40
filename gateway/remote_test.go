package gateway_test

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// mockNode starts a node on a mocknet host, with replication off so that
// only reads move blocks.
func mockNode(t testing.TB, h host.Host, bootstrap ...peer.AddrInfo) *node.Node {
	t.Helper()
	return nodetest.Start(t, node.WithHost(h), node.WithBootstrap(bootstrap...),
		node.WithReplication(node.ReplicationConfig{Disabled: true}))
}

// linkedHosts starts n mocknet hosts, all linked with link's options; the
// mocknet closes when the test ends.
func linkedHosts(t testing.TB, n int, link mocknet.LinkOptions) []host.Host {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	mn.SetLinkDefaults(link)
	var hs []host.Host
	for range n {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return hs
}

// A file added on A is read through B's gateway, B holding none of it;
// the link between them is slow, so the whole file takes seconds to
// cross, and the first bytes reach the client long before that.
func TestGatewayStreamsContentItFetchesFromAnotherNode(t *testing.T) {
	const bandwidth = 2 << 20 // bytes per second, each way
	hs := linkedHosts(t, 2, mocknet.LinkOptions{Bandwidth: bandwidth})
	ha, hb := hs[0], hs[1]
	a := mockNode(t, ha)
	b := mockNode(t, hb, peer.AddrInfo{ID: ha.ID(), Addrs: ha.Addrs()})

	data := make([]byte, 40*chunk.ChunkSize+777) // 10 MiB: 5 s over the link
	mrand.New(mrand.NewSource(9)).Read(data)
	root := addBytes(t, a, data)
	blocks := a.Stats().Blocks

	gw, err := gateway.New(gateway.Config{Backend: &nodeapi.Online{N: b}, Token: testToken, FetchTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ipfs/"+root.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET through B: %d", resp.StatusCode)
	}
	first := make([]byte, 4096)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if held := b.Stats().Blocks; held >= blocks {
		t.Fatalf("B held the whole file (%d of %d blocks) before the client had its first bytes", held, blocks)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), data) {
		t.Fatal("the file read through B differs from the one added on A")
	}
}
