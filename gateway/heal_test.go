package gateway_test

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rotBlock flips a byte in the middle of data's record in the segment
// files of the repo at dir, behind the store's back, as a rotting disk
// would.
func rotBlock(t *testing.T, dir string, data []byte) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "blocks", "*.seg"))
	for _, name := range segs {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(b, data)
		if at < 0 {
			continue
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{b[at+len(data)/2] ^ 0x40}, int64(at+len(data)/2)); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("block not found in any segment")
}

// Raw and CAR reads go through the healing path as file reads do: a
// rotted block on the serving node is fetched again from a replica and
// the read succeeds with the right bytes.
func TestRawAndCARReadsMendARottedBlockFromAReplica(t *testing.T) {
	dir := t.TempDir()
	serving := nodetest.StartAt(t, dir, node.WithReplication(node.ReplicationConfig{Disabled: true}))
	replica := nodetest.Start(t, node.WithBootstrap(serving.AddrInfo()),
		node.WithReplication(node.ReplicationConfig{Disabled: true}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	data := make([]byte, 3*chunk.ChunkSize+1000)
	mrand.New(mrand.NewSource(5)).Read(data)
	res, err := serving.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Fetch(ctx, res.Root, node.FetchOptions{Providers: []peer.ID{serving.ID()}}); err != nil {
		t.Fatal(err)
	}
	var leaves []cid.Cid
	blocks := map[cid.Cid][]byte{}
	if err := serving.Walk(ctx, res.Root, node.FetchOptions{}, func(c cid.Cid, b []byte) error {
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		}
		blocks[c] = append([]byte(nil), b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Backend: &nodeapi.Online{N: serving}, Token: testToken, FetchTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	rotBlock(t, dir, blocks[leaves[1]])
	resp, body := do(t, "GET", srv.URL+"/ipfs/"+leaves[1].String()+"?format=raw", "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, blocks[leaves[1]]) {
		t.Fatalf("raw read of a rotted block: %d, %d bytes (want %d good ones)", resp.StatusCode, len(body), len(blocks[leaves[1]]))
	}

	rotBlock(t, dir, blocks[leaves[2]])
	resp, err = http.Get(srv.URL + "/ipfs/" + res.Root.String() + "?format=car")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br, err := carv2.NewBlockReader(resp.Body)
	if err != nil {
		t.Fatalf("CAR read of a DAG with a rotted block: %d: %v", resp.StatusCode, err)
	}
	got := 0
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("CAR cut short after %d blocks: %v", got, err)
		}
		if !bytes.Equal(blk.RawData(), blocks[blk.Cid()]) {
			t.Fatalf("CAR block %s differs", blk.Cid())
		}
		got++
	}
	if got != len(blocks) {
		t.Fatalf("CAR holds %d blocks, want %d", got, len(blocks))
	}
	if serving.ScrubErrors() != 2 {
		t.Fatalf("%d corrupt blocks met, want the 2 rotted", serving.ScrubErrors())
	}
}
