package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	mrand "math/rand"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

const testToken = "0123456789abcdef0123456789abcdef"

func newGateway(t *testing.T, opts ...func(*gateway.Config)) (*httptest.Server, *node.Node) {
	t.Helper()
	n := nodetest.Start(t)
	cfg := gateway.Config{Backend: &nodeapi.Online{N: n}, Token: testToken, FetchTimeout: time.Second, MaxUploadSize: 1 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, n
}

func do(t *testing.T, method, url, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestUploadNeedsTheTokenAndReadsAreOpen(t *testing.T) {
	srv, _ := newGateway(t)
	data := make([]byte, 700_000)
	mrand.New(mrand.NewSource(1)).Read(data)

	for _, tok := range []string{"", "wrong-token-wrong-token-wrong-tok"} {
		resp, body := do(t, "POST", srv.URL+"/api/v1/add", tok, bytes.NewReader(data))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "api-token") {
			t.Fatalf("upload with token %q: %d %s", tok, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "POST", srv.URL+"/api/v1/add", testToken, bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var added gateway.AddResponse
	if err := json.Unmarshal(body, &added); err != nil || added.Size != uint64(len(data)) {
		t.Fatalf("upload reply %s: %v", body, err)
	}
	if loc := resp.Header.Get("Location"); loc != "/ipfs/"+added.Cid {
		t.Fatalf("Location = %q", loc)
	}

	resp, body = do(t, "GET", srv.URL+"/ipfs/"+added.Cid, "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("read back: %d, %d bytes", resp.StatusCode, len(body))
	}
	var st gateway.StatResponse
	resp, body = do(t, "GET", srv.URL+"/api/v1/stat/"+added.Cid, "", nil)
	// Alone, the node holds the only copy: stat says it is under-replicated.
	if json.Unmarshal(body, &st); resp.StatusCode != 200 || st.Size != uint64(len(data)) || st.Blocks != 4 || st.MinLive != 1 || st.Factor != 3 {
		t.Fatalf("stat: %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, "POST", srv.URL+"/api/v1/repo/verify", "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("verify without token: %d", resp.StatusCode)
	}
}

func TestErrorsHaveTheRightStatus(t *testing.T) {
	srv, _ := newGateway(t)
	cases := []struct {
		path   string
		status int
	}{
		{"/ipfs/not-a-cid", http.StatusBadRequest},
		{"/api/v1/stat/bafy-nope", http.StatusBadRequest},
		// Nobody provides it: 404 once the fetch timeout passes.
		{"/ipfs/bafkreihmzqbsjjvmvexdhs5liluma546fw34mh4glu5enmn6gec24o4ksu", http.StatusNotFound},
	}
	for _, tc := range cases {
		resp, body := do(t, "GET", srv.URL+tc.path, "", nil)
		var e gateway.ErrorBody
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("GET %s: %d %s, want %d with an error message", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}

func TestHealthzMetricsAndID(t *testing.T) {
	srv, n := newGateway(t)
	if resp, body := do(t, "GET", srv.URL+"/healthz", "", nil); resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	var id gateway.IDResponse
	_, body := do(t, "GET", srv.URL+"/api/v1/id", "", nil)
	if json.Unmarshal(body, &id); id.ID != n.ID().String() || len(id.Addresses) == 0 || !strings.HasSuffix(id.Addresses[0], "/p2p/"+id.ID) {
		t.Fatalf("id: %s", body)
	}
	_, body = do(t, "GET", srv.URL+"/metrics", "", nil)
	for _, m := range []string{"cairn_store_blocks", "cairn_http_requests_total", "cairn_dht_lookups_total", "cairn_push_batches_total", "cairn_batched_pushes_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func TestUploadPastTheLimitIs413(t *testing.T) {
	srv, _ := newGateway(t)
	resp, body := do(t, "POST", srv.URL+"/api/v1/add", testToken, bytes.NewReader(make([]byte, 2<<20)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "MaxUploadSize") {
		t.Fatalf("oversized upload: %d %s", resp.StatusCode, body)
	}
}

func TestReadsAnswerRangesConditionalsAndCacheHeaders(t *testing.T) {
	srv, _ := newGateway(t)
	data := make([]byte, 600_000) // three chunks
	mrand.New(mrand.NewSource(3)).Read(data)
	_, body := do(t, "POST", srv.URL+"/api/v1/add", testToken, bytes.NewReader(data))
	var added gateway.AddResponse
	if err := json.Unmarshal(body, &added); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/ipfs/" + added.Cid
	etag := `"` + added.Cid + `"`

	get := func(headers map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get(nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.Header.Get("Etag") != etag ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("plain GET: %d, headers %v", resp.StatusCode, resp.Header)
	}
	// Across the first chunk boundary (262144).
	resp, b = get(map[string]string{"Range": "bytes=262140-262150"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, data[262140:262151]) ||
		resp.Header.Get("Content-Range") != "bytes 262140-262150/600000" {
		t.Fatalf("range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if resp, _ = get(map[string]string{"Range": "bytes=700000-"}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("unsatisfiable range: %d", resp.StatusCode)
	}
	if resp, _ = get(map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
}

func addVia(t *testing.T, srv *httptest.Server, data []byte) string {
	t.Helper()
	resp, body := do(t, "POST", srv.URL+"/ipfs/", testToken, bytes.NewReader(data))
	var added gateway.AddResponse
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &added) != nil || resp.Header.Get("Location") != "/ipfs/"+added.Cid {
		t.Fatalf("POST /ipfs/: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	return added.Cid
}

func TestTrustlessRawAndCARResponsesVerifyAgainstTheirCIDs(t *testing.T) {
	srv, _ := newGateway(t)
	data := make([]byte, 900_000)
	mrand.New(mrand.NewSource(5)).Read(data)
	root := addVia(t, srv, data)

	for _, tc := range []struct{ query, accept string }{{"?format=raw", ""}, {"", "application/vnd.ipld.raw"}} {
		req, _ := http.NewRequest("GET", srv.URL+"/ipfs/"+root+tc.query, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c, _ := cid.Decode(root)
		if resp.Header.Get("Content-Type") != "application/vnd.ipld.raw" || chunk.Verify(c, b) != nil ||
			resp.Header.Get("Etag") == `"`+root+`"` || resp.Header.Get("Vary") != "Accept" {
			t.Fatalf("raw %q/%q: %d %v", tc.query, tc.accept, resp.StatusCode, resp.Header)
		}
	}

	resp, err := http.Get(srv.URL + "/ipfs/" + root + "?format=car")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br, err := carv2.NewBlockReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(br.Roots) != 1 || br.Roots[0].String() != root {
		t.Fatalf("CAR roots %v, want [%s]", br.Roots, root)
	}
	n := 0
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := chunk.Verify(blk.Cid(), blk.RawData()); err != nil {
			t.Fatalf("CAR block %s: %v", blk.Cid(), err)
		}
		if n == 0 && blk.Cid().String() != root {
			t.Fatalf("CAR starts with %s, not the root", blk.Cid())
		}
		n++
	}
	if n != 5 { // root and four leaves
		t.Fatalf("CAR holds %d blocks, want 5", n)
	}
}

func TestMultipartUploadAndFilenameHeaders(t *testing.T) {
	srv, _ := newGateway(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", "hello.txt")
	fw.Write([]byte("hello world\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/ipfs/", &body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 201 || loc != "/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4" {
		t.Fatalf("multipart upload: %d, Location %q", resp.StatusCode, loc)
	}
	resp, b := do(t, "GET", srv.URL+"/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4?filename=greeting.txt", "", nil)
	if string(b) != "hello world\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("Content-Disposition") != `inline; filename="greeting.txt"` {
		t.Fatalf("filename: %q %v", b, resp.Header)
	}
	if resp, _ := do(t, "POST", srv.URL+"/ipfs/", "", strings.NewReader("x")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upload without a token: %d", resp.StatusCode)
	}
}
