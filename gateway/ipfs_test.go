package gateway_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node"
)

// addFolder writes files (path -> content) under a folder and adds it.
func addFolder(t *testing.T, n *node.Node, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "site")
	for p, body := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr := chunk.DiskTree(root, false)
	defer tr.Close()
	res, err := n.AddTree(context.Background(), tr, chunk.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Root.String()
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

func TestPathsThroughFoldersIndexPagesListingsAndTheSandbox(t *testing.T) {
	srv, n := newGateway(t)
	site := addFolder(t, n, map[string]string{
		"index.html":          "<h1>home</h1>",
		"docs/a b.txt":        "spaced",
		"docs/<script>.txt":   "tag",
		"docs/deep/note.json": `{"k":1}`,
	})
	base := srv.URL + "/ipfs/" + site
	cases := []struct {
		name, url   string
		status      int
		body, ctype string
		location    string
	}{
		{"index page", base + "/", 200, "<h1>home</h1>", "text/html", ""},
		{"folder without its slash", base, 301, "", "", "/ipfs/" + site + "/"},
		{"sub-folder without its slash", base + "/docs", 301, "", "", "/ipfs/" + site + "/docs/"},
		{"percent-encoded name", base + "/docs/a%20b.txt", 200, "spaced", "text/plain", ""},
		{"deep file", base + "/docs/deep/note.json", 200, `{"k":1}`, "application/json", ""},
		{"listing", base + "/docs/", 200, "a b.txt", "text/html", ""},
		{"missing name", base + "/docs/nope", 404, "no such entry", "", ""},
		{"path through a file", base + "/index.html/x", 404, "not a directory", "", ""},
	}
	for _, tc := range cases {
		resp, body := get(t, tc.url)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d %q %v, want %d with %q", tc.name, resp.StatusCode, body, resp.Header, tc.status, tc.body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox allow-scripts") {
			t.Errorf("%s: Content-Security-Policy %q", tc.name, csp)
		}
	}
	// The listing escapes names: a name is text, never markup.
	_, body := get(t, base+"/docs/")
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;.txt") || strings.Contains(body, "<script") {
		t.Errorf("listing does not escape names:\n%s", body)
	}
}
