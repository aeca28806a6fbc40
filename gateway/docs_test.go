package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// putDoc stores a block of codec and returns its CID.
func putDoc(t *testing.T, n *node.Node, codec uint64, data string) cid.Cid {
	t.Helper()
	c, err := cid.Prefix{Version: 1, Codec: codec, MhType: multihash.SHA2_256, MhLength: -1}.Sum([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Local.Store().Put(c, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDocumentsAreServedConvertedAndPathedThrough(t *testing.T) {
	srv, n := newGateway(t)
	leaf := putDoc(t, n, cid.DagJSON, `{"hello":"this is not a link"}`)
	mid := putDoc(t, n, cid.DagJSON, `{"bar":{"/":"`+leaf.String()+`"}}`)
	top := putDoc(t, n, cid.DagJSON, `{"foo":{"link":{"/":"`+mid.String()+`"}}}`)
	base := srv.URL + "/ipfs/" + top.String()

	cases := []struct {
		name, path, accept string
		status             int
		ctype, body        string
	}{
		{"as is", "", "", 200, "application/vnd.ipld.dag-json", `{"foo":{"link":{"/":"` + mid.String() + `"}}}`},
		{"plain json type", "?format=json", "", 200, "application/json", `{"foo":{"link":{"/":"` + mid.String() + `"}}}`},
		{"through two links", "/foo/link/bar", "", 200, "application/vnd.ipld.dag-json", `{"hello":"this is not a link"}`},
		{"converted to dag-cbor and back", "/foo/link/bar?format=dag-cbor", "", 200, "application/vnd.ipld.dag-cbor", ""},
		{"ends inside the block", "/foo?format=dag-json", "", 501, "", ""},
		{"missing key", "/foo/nope", "", 404, "", ""},
		{"a page for browsers", "", "text/html", 200, "text/html; charset=utf-8", ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			k, err := resp.Body.Read(buf)
			b.WriteString(string(buf[:k]))
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) ||
			(tc.body != "" && b.String() != tc.body) {
			t.Errorf("%s: %d %q %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
		}
		if tc.status == 200 && tc.accept == "" && (!strings.Contains(resp.Header.Get("Etag"), ".") || resp.Header.Get("X-Ipfs-Roots") == "") {
			t.Errorf("%s: headers %v", tc.name, resp.Header)
		}
	}

	// The CAR of a path through documents carries each of them.
	resp, got := getCAR(t, base+"/foo/link/bar?format=car", "")
	if want := []string{top.String(), mid.String(), leaf.String()}; resp.StatusCode != 200 || !slices.Equal(got, want) {
		t.Errorf("CAR through documents: %d %v, want %v", resp.StatusCode, got, want)
	}
	// dag-cbor converted to dag-json keeps the link.
	lb := leaf.Bytes()
	// {"a": leaf}: a map of one key, a tag-42 byte string of 0 and the CID
	cbor := append([]byte{0xa1, 0x61, 'a', 0xd8, 0x2a, 0x58, byte(len(lb) + 1), 0}, lb...)
	cb := putDoc(t, n, cid.DagCBOR, string(cbor))
	resp2, body := do(t, "GET", srv.URL+"/ipfs/"+cb.String()+"?format=dag-json", "", nil)
	var v map[string]map[string]string
	if resp2.StatusCode != 200 || json.Unmarshal(body, &v) != nil || v["a"]["/"] != leaf.String() {
		t.Errorf("dag-cbor as dag-json: %d %s", resp2.StatusCode, body)
	}
	// only-if-cached for what is not here: 412 without a fetch.
	absent := "bafyreibnd3mm7ff4qhtsufvp7dxy3kj6ximjz3lw2vfhzvcqdkyo5lqjqq"
	req, _ := http.NewRequest("HEAD", srv.URL+"/ipfs/"+absent, nil)
	req.Header.Set("Cache-Control", "only-if-cached")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("only-if-cached: %v %v", resp, err)
	}
}

func TestUnixFSAsDagJSONIsItsDagPBDataModel(t *testing.T) {
	srv, n := newGateway(t)
	root := addFolder(t, n, map[string]string{"a.txt": "aaa", "b.txt": "bbb"})
	resp, body := do(t, "GET", srv.URL+"/ipfs/"+root+"?format=dag-json", "", nil)
	var v struct {
		Data  map[string]map[string]string
		Links []struct {
			Hash  map[string]string
			Name  string
			Tsize int
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.ipld.dag-json" ||
		json.Unmarshal(body, &v) != nil || len(v.Links) != 2 || v.Links[0].Name != "a.txt" ||
		v.Links[1].Hash["/"] == "" || v.Links[1].Tsize == 0 || v.Data["/"]["bytes"] == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	// format=json of UnixFS changes nothing: the folder's listing.
	resp, body = do(t, "GET", srv.URL+"/ipfs/"+root+"/?format=json", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "a.txt") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("format=json of a folder: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestIfNoneMatchTakesListsAndWeakETags(t *testing.T) {
	srv, n := newGateway(t)
	root := addFolder(t, n, map[string]string{"sub/a.txt": "aaa"})
	resp, _ := do(t, "GET", srv.URL+"/ipfs/"+root+"/", "", nil)
	listing := resp.Header.Get("Etag")
	if !strings.HasPrefix(listing, `"DirIndex-`) || strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("listing: %v", resp.Header)
	}
	for _, inm := range []string{`W/"` + root + `"`, `"x", "y", "` + root + `"`, listing, "W/" + listing, `*`} {
		req, _ := http.NewRequest("GET", srv.URL+"/ipfs/"+root+"/", nil)
		req.Header.Set("If-None-Match", inm)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: %d", inm, resp.StatusCode)
		}
	}
}

func TestReadsAllowCrossOriginAndTheAPIDoesNot(t *testing.T) {
	srv, _ := newGateway(t)
	const hello = "/ipfs/bafkqabtimvwgy3yk" // "hello", an identity CID
	for _, method := range []string{"GET", "OPTIONS"} {
		resp, _ := do(t, method, srv.URL+hello, "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Ipfs-Roots") {
			t.Errorf("%s %s: %d %v", method, hello, resp.StatusCode, resp.Header)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/api/v1/id", "", nil); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the API allows cross-origin reads: %v", resp.Header)
	}
}
