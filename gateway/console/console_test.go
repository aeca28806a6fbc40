package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/gateway/console"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
)

const testToken = "0123456789abcdef0123456789abcdef"

// newConsole serves a real node's gateway with its console on loopback.
func newConsole(t testing.TB, opts ...func(*gateway.Config)) (*httptest.Server, *node.Node, *console.Console) {
	t.Helper()
	n := nodetest.Start(t)
	backend := &nodeapi.Online{N: n}
	cons, err := console.New(console.Config{Backend: backend, FetchTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{Backend: backend, Token: testToken, Console: cons, FetchTimeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, n, cons
}

func request(t testing.TB, method, u, token, contentType string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func page(t testing.TB, u string) string {
	t.Helper()
	resp, body := request(t, "GET", u, "", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, body)
	}
	return body
}

// add uploads a file as the console's script does: the body, named.
func add(t testing.TB, base, name string, data []byte) string {
	t.Helper()
	resp, body := request(t, "POST", base+"/api/v1/add?name="+url.QueryEscape(name), testToken, "", bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add %s: %s %s", name, resp.Status, body)
	}
	var out gateway.AddResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Cid
}

// addFolder uploads a folder as the console's script does: multipart parts
// whose filenames are escaped paths, sorted.
func addFolder(t testing.TB, base string, files map[string]string, order []string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range order {
		parts := strings.Split(p, "/")
		for i := range parts {
			parts[i] = url.QueryEscape(parts[i]) // as encodeURIComponent: "+" is sent as %2B
		}
		w, err := mw.CreateFormFile("file", strings.Join(parts, "/"))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[p]))
	}
	mw.Close()
	resp, body := request(t, "POST", base+"/api/v1/add", testToken, mw.FormDataContentType(), &buf)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add folder: %s %s", resp.Status, body)
	}
	var out gateway.AddResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Cid
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestOverviewAndPinsRenderOnTheServer(t *testing.T) {
	srv, n, cons := newConsole(t)
	report := add(t, srv.URL, "quarterly report.txt", []byte("numbers, mostly\n"))
	add(t, srv.URL, "holiday.jpg", bytes.Repeat([]byte{0xff, 0xd8}, 3000))
	cons.Record(t.Context())

	home := page(t, srv.URL+"/")
	mustContain(t, "the overview", home, `data-node="`+n.ID().String()+`"`, "this node", "2 pins", `class="state up"`,
		`<polyline class="under"`, "/console/static/console.js?v=")

	pins := page(t, srv.URL+"/console/pins")
	mustContain(t, "the pins page", pins, "quarterly report.txt", "holiday.jpg", `data-copies="`+report+`"`)
	found := page(t, srv.URL+"/console/pins?q=QUARTERLY")
	mustContain(t, "a search by name", found, "1 of 2 pins match", "quarterly report.txt")
	if strings.Contains(found, "holiday.jpg") {
		t.Error("a search for quarterly lists holiday.jpg")
	}
	mustContain(t, "a search by CID", page(t, srv.URL+"/console/pins?q="+report[len(report)-12:]), "quarterly report.txt")
	mustContain(t, "a search that matches nothing", page(t, srv.URL+"/console/pins?q=nothing-like-it"), "No pin matches")

	part := page(t, srv.URL+"/?part=main")
	if strings.Contains(part, "<html") || !strings.Contains(part, `data-node="`) {
		t.Errorf("?part=main is not the main section alone:\n%s", part)
	}

	detail := page(t, srv.URL+"/console/pins/"+report)
	mustContain(t, "a pin's page", detail, "quarterly report.txt", `data-unpin="`+report+`"`, "live copies", n.ID().String())
}

func TestFilesBrowseFoldersAndPreviewTextAndImages(t *testing.T) {
	srv, _, _ := newConsole(t)
	files := map[string]string{
		"album/notes/read me.md": "# Trip\nday one\n",
		"album/photo.png":        "\x89PNG\r\n\x1a\n not really",
		"album/z+z.txt":          "plus",
	}
	root := addFolder(t, srv.URL, files, []string{"album/notes/read me.md", "album/photo.png", "album/z+z.txt"})

	mustContain(t, "the pins page", page(t, srv.URL+"/console/pins?q=album"), `>album</a>`) // named after the folder
	dir := page(t, srv.URL+"/console/files/"+root)
	mustContain(t, "the folder", dir, ">notes/<", ">photo.png<", ">z&#43;z.txt<", `href="/console/files/`+root+`/notes"`)
	text := page(t, srv.URL+"/console/files/"+root+"/notes/read%20me.md")
	mustContain(t, "a text file", text, "<pre class=\"preview\"># Trip\nday one\n</pre>", "download=true",
		`href="/console/files/`+root+`/notes"`)
	img := page(t, srv.URL+"/console/files/"+root+"/photo.png")
	mustContain(t, "an image", img, `<img src="/ipfs/`+root+`/photo.png"`)
	if strings.Contains(img, `<pre class="preview">`) {
		t.Error("an image is previewed as text")
	}

	resp, _ := request(t, "GET", srv.URL+"/console/files?path="+url.QueryEscape("/ipfs/"+root+"/notes"), "", "", nil)
	if resp.Request.URL.Path != "/console/files/"+root+"/notes" {
		t.Errorf("the open box led to %s", resp.Request.URL.Path)
	}
}

func TestBadRequestsGetAnErrorPage(t *testing.T) {
	srv, _, _ := newConsole(t)
	stored := add(t, srv.URL, "a.txt", []byte("a"))
	// A valid CID that nothing pins (the raw block of "b").
	unpinned := "bafkreifjzz7ljkdxrmzgsfn2lwsvftzcwdgz6gtqjbcz3dzjbd6l6m3cyy"
	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/console/files/not-a-cid", http.StatusBadRequest, "invalid CID"},
		{"/console/files/" + stored + "/inside", http.StatusBadRequest, "not a directory"},
		{"/console/pins/" + unpinned, http.StatusNotFound, "not pinned"},
		{"/console/pins/nope", http.StatusBadRequest, "invalid CID"},
		{"/console/static/missing.js", http.StatusNotFound, ""},
	} {
		resp, body := request(t, "GET", srv.URL+tc.path, "", "", nil)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("GET %s: %s, want %d saying %q\n%s", tc.path, resp.Status, tc.status, tc.says, body)
		}
	}
}

func TestConsolePagesCarryAStrictPolicyAndStaticFilesAreCached(t *testing.T) {
	srv, _, _ := newConsole(t)
	resp, body := request(t, "GET", srv.URL+"/", "", "", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the console's CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, " style=") {
		t.Error("a page has inline script or style, which its policy would block")
	}
	i := strings.Index(body, "/console/static/console.js?v=")
	if i < 0 {
		t.Fatal("the page links no versioned script")
	}
	src := body[i : i+strings.IndexByte(body[i:], '"')]
	resp, js := request(t, "GET", srv.URL+src, "", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(js, "sessionStorage") {
		t.Errorf("GET %s: %s, Cache-Control %q, type %q", src, resp.Status, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
}

// The console shows what the API's open reads show, so it answers only at
// the API's host names (DNS rebinding); /ipfs/ answers at any.
func TestConsoleAnswersOnlyAtTheAPIHosts(t *testing.T) {
	srv, _, _ := newConsole(t, func(c *gateway.Config) { c.APIHosts = []string{"127.0.0.1:1"} })
	for _, p := range []string{"/", "/console/pins", "/console/static/console.css"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Host = "rebound.example:80"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with Host %s: %s, want 421", p, req.Host, resp.Status)
		}
	}
	resp, _ := request(t, "GET", srv.URL+"/ipfs/bafkqaaa", "", "", nil) // the empty identity CID
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/ipfs/ at another host: %s, want 200", resp.Status)
	}
}

// Every action the console offers goes through the API, which refuses it
// without the token.
func TestEveryConsoleActionNeedsTheToken(t *testing.T) {
	srv, _, _ := newConsole(t)
	stored := add(t, srv.URL, "kept.txt", []byte("kept"))
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/add?name=x"},
		{"DELETE", "/api/v1/pins/" + stored},
		{"POST", "/api/v1/peers/connect?addr=/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK9VkbKV5Ya8tV2oj7RJQkUCMBKcCC2bmmstffRJ1Hp81"},
	} {
		for _, tok := range []string{"", "wrong-token-wrong-token-wrong"} {
			resp, _ := request(t, tc.method, srv.URL+tc.path, tok, "", strings.NewReader("x"))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %s, want 401", tc.method, tc.path, tok, resp.Status)
			}
		}
	}
	mustContain(t, "the pins page after refused actions", page(t, srv.URL+"/console/pins"), "kept.txt", "1 pins")
}

func BenchmarkOverview(b *testing.B) {
	srv, _, cons := newConsole(b)
	for i := range 20 {
		add(b, srv.URL, "file-"+string(rune('a'+i)), []byte{byte(i)})
	}
	cons.Record(b.Context())
	b.ReportAllocs()
	for b.Loop() {
		page(b, srv.URL+"/?part=main")
	}
}
