package gateway_test

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
)

// getCAR asks for a CAR and returns the response (body read, trailers in)
// and the CIDs of its blocks in order, each checked against its bytes.
func getCAR(t *testing.T, url, accept string) (*http.Response, []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	var out []string
	for {
		blk, err := br.Next()
		if err == io.EOF {
			return resp, out
		}
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if err := chunk.Verify(blk.Cid(), blk.RawData()); err != nil {
			t.Fatalf("%s: block %s: %v", url, blk.Cid(), err)
		}
		out = append(out, blk.Cid().String())
	}
}

func TestTrustlessCARScopesRangesDupsAndPaths(t *testing.T) {
	srv, n := newGateway(t)
	big := make([]byte, 700_000) // three leaves of 256 KiB
	mrand.New(mrand.NewSource(9)).Read(big)
	root := addFolder(t, n, map[string]string{
		"sub/a.txt": "same bytes",
		"sub/b.txt": "same bytes",
		"big.bin":   string(big),
	})
	base := srv.URL + "/ipfs/" + root
	resolve := func(p string) string {
		rc, _ := cid.Decode(root)
		c, err := chunk.Resolve(context.Background(), n.Local.Store(), rc, p)
		if err != nil {
			t.Fatal(err)
		}
		return c.String()
	}
	sub, a, b, bigc := resolve("sub"), resolve("sub/a.txt"), resolve("sub/b.txt"), resolve("big.bin")
	if a != b {
		t.Fatal("identical files with different CIDs")
	}
	_, bigAll := getCAR(t, srv.URL+"/ipfs/"+bigc+"?format=car", "")
	if len(bigAll) != 4 || bigAll[0] != bigc {
		t.Fatalf("whole file: %v", bigAll)
	}
	leaves := bigAll[1:]

	cases := []struct {
		name, path, accept string
		want               []string
	}{
		{"pathing", "/sub/a.txt?format=car", "", []string{root, sub, a}},
		{"block of a folder on a path", "/sub?format=car&dag-scope=block", "", []string{root, sub}},
		{"entity of a folder", "?format=car&dag-scope=entity", "", []string{root}},
		{"entity of a file", "/big.bin?format=car&dag-scope=entity", "", append([]string{root, bigc}, leaves...)},
		{"all of a folder, dups=n", "/sub?format=car", "", []string{root, sub, a}},
		{"all of a folder, dups=y", "/sub", "application/vnd.ipld.car; dups=y", []string{root, sub, a, a}},
		{"car-dups wins over Accept", "/sub?format=car&car-dups=y", "application/vnd.ipld.car; dups=n", []string{root, sub, a, a}},
		{"first byte", "/big.bin?format=car&entity-bytes=0:0", "", []string{root, bigc, leaves[0]}},
		{"last byte", "/big.bin?format=car&dag-scope=entity&entity-bytes=-1:*", "", []string{root, bigc, leaves[2]}},
		{"across a leaf edge", "/big.bin?format=car&dag-scope=entity&entity-bytes=262143:262144", "", []string{root, bigc, leaves[0], leaves[1]}},
		{"negative end", "/big.bin?format=car&dag-scope=entity&entity-bytes=-9999999:-600000", "", []string{root, bigc, leaves[0]}},
		{"entity-bytes of a folder is the entity", "/sub?format=car&dag-scope=entity&entity-bytes=0:10", "", []string{root, sub}},
	}
	for _, tc := range cases {
		resp, got := getCAR(t, base+tc.path, tc.accept)
		if resp.StatusCode != http.StatusOK || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d %v, want %v", tc.name, resp.StatusCode, got, tc.want)
			continue
		}
		ct := resp.Header.Get("Content-Type")
		dups := strings.Contains(tc.accept, "dups=y") || strings.Contains(tc.path, "car-dups=y")
		if !strings.HasPrefix(ct, "application/vnd.ipld.car; version=1; order=dfs") || strings.Contains(ct, "dups=y") != dups ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Accept-Ranges") != "none" ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=") || resp.Header.Get("Etag") == "" {
			t.Errorf("%s: headers %v", tc.name, resp.Header)
		}
	}

	for _, tc := range []struct{ path, accept string }{
		{"?format=car&car-version=2", ""},
		{"", "application/vnd.ipld.car; version=2"},
		{"?format=car&dag-scope=nope", ""},
		{"?format=car&entity-bytes=7", ""},
	} {
		if resp, _ := getCAR(t, base+tc.path, tc.accept); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s: %d, want 400", tc.path, tc.accept, resp.StatusCode)
		}
	}
	if resp, _ := getCAR(t, base+"/sub/nope?format=car", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing name: %d, want 404", resp.StatusCode)
	}
	if resp, body := do(t, "HEAD", base+"/sub?format=car", "", nil); resp.StatusCode != 200 || len(body) != 0 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.ipld.car") {
		t.Errorf("HEAD: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	// Different requests of one CID are different responses.
	r1, _ := getCAR(t, base+"?format=car&dag-scope=entity", "")
	r2, _ := getCAR(t, base+"?format=car", "")
	if r1.Header.Get("Etag") == r2.Header.Get("Etag") {
		t.Errorf("entity and all share the ETag %s", r1.Header.Get("Etag"))
	}

	// With the last leaf gone (and nowhere to fetch it from), a range
	// before it is still served; the whole file is cut short, with the
	// reason in the trailer, once the first blocks are out.
	last, _ := cid.Decode(leaves[2])
	if err := n.Local.Store().Delete(last); err != nil {
		t.Fatal(err)
	}
	if resp, got := getCAR(t, base+"/big.bin?format=car&entity-bytes=0:1000", ""); resp.StatusCode != http.StatusOK ||
		!slices.Equal(got, []string{root, bigc, leaves[0]}) {
		t.Errorf("range before the missing leaf: %d %v", resp.StatusCode, got)
	}
	if resp, got := getCAR(t, base+"/big.bin?format=car&dag-scope=entity", ""); resp.StatusCode == http.StatusOK &&
		(len(got) != 4 || resp.Trailer.Get("X-Stream-Error") == "") {
		t.Errorf("the whole file without its last leaf: %v, trailer %q", got, resp.Trailer.Get("X-Stream-Error"))
	}
}

// TestDupsOfAHostileDAGAreBounded: four blocks, each linking the next
// 20,000 times, would make 8·10^12 blocks with dups=y.
func TestDupsOfAHostileDAGAreBounded(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*gateway.Config)
		max  int // blocks
	}{
		{"repeats", func(c *gateway.Config) { c.MaxCARRepeats = 1000 }, 1004},
		// 4 MiB of 22-byte leaves and a few 800 kB lists
		{"repeat bytes", func(c *gateway.Config) { c.MaxCARRepeatBytes = 4 << 20 }, 4 << 20 / 22},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := newGateway(t, tc.cfg)
			leaf := []byte("the bottom of the pile")
			next, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum(leaf)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Local.Store().Put(next, leaf); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				next = putLinkList(t, n.Local.Store(), next, 20_000)
			}
			resp, got := getCAR(t, srv.URL+"/ipfs/"+next.String()+"?format=car&car-dups=y", "")
			if resp.StatusCode != http.StatusOK || len(got) < 4 || len(got) > tc.max {
				t.Fatalf("%d, %d blocks", resp.StatusCode, len(got))
			}
			if resp.Trailer.Get("X-Stream-Error") == "" {
				t.Errorf("cut short without an X-Stream-Error trailer (%d blocks)", len(got))
			}
			// Without dups the same DAG is its four blocks.
			if resp, got := getCAR(t, srv.URL+"/ipfs/"+next.String()+"?format=car", ""); resp.StatusCode != 200 || len(got) != 4 {
				t.Errorf("dups=n: %d, %d blocks", resp.StatusCode, len(got))
			}
		})
	}
}

type putter interface {
	Put(c cid.Cid, data []byte) error
}

// putLinkList stores a dag-cbor list of k links to to, and returns its CID.
func putLinkList(t *testing.T, s putter, to cid.Cid, k int) cid.Cid {
	t.Helper()
	nb := basicnode.Prototype.List.NewBuilder()
	la, err := nb.BeginList(int64(k))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < k; i++ {
		la.AssembleValue().AssignLink(cidlink.Link{Cid: to})
	}
	la.Finish()
	var buf bytes.Buffer
	if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
		t.Fatal(err)
	}
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}
