package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// BenchmarkListingOfABigFolderThroughAnotherNode times the gateway's page
// for a folder of 20,000 small files, served by a node that holds none of
// them (the folder was added on another): b.N is the number of views,
// each on a fresh reader node.
func BenchmarkListingOfABigFolderThroughAnotherNode(b *testing.B) {
	const files = 20_000
	mn := mocknet.New()
	b.Cleanup(func() { mn.Close() })
	ha, err := mn.GenPeer()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "big")
	os.MkdirAll(dir, 0o755)
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), []byte(fmt.Sprint("file ", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := mn.LinkAll(); err != nil {
		b.Fatal(err)
	}
	a := mockNode(b, ha)
	tr := chunk.DiskTree(dir, false)
	res, err := a.AddTree(b.Context(), tr, chunk.DirOptions{})
	tr.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		hb, err := mn.GenPeer()
		if err != nil {
			b.Fatal(err)
		}
		if err := mn.LinkAll(); err != nil {
			b.Fatal(err)
		}
		reader := mockNode(b, hb, peer.AddrInfo{ID: ha.ID(), Addrs: ha.Addrs()})
		gw, err := gateway.New(gateway.Config{Backend: &nodeapi.Online{N: reader}, Token: testToken, FetchTimeout: 30 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		b.StartTimer()
		resp, body := get(b, srv.URL+"/ipfs/"+res.Root.String()+"/")
		b.StopTimer()
		if resp.StatusCode != http.StatusOK || strings.Count(body, "<tr>") < files {
			b.Fatalf("listing: %d, %d rows", resp.StatusCode, strings.Count(body, "<tr>"))
		}
		srv.Close()
		b.StartTimer()
	}
}
