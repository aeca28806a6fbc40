package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/node"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
)

// part is one part of a folder upload: kind "dir", "link" or "file".
type part struct{ name, kind, body string }

func multipartBody(t *testing.T, parts []part) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, url.QueryEscape(p.name)))
		switch p.kind {
		case "dir":
			h.Set("Content-Type", "application/x-directory")
		case "link":
			h.Set("Content-Type", "application/symlink")
		default:
			h.Set("Content-Type", "application/octet-stream")
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(p.body))
	}
	mw.Close()
	return &body, mw.FormDataContentType()
}

func postParts(t *testing.T, url string, parts []part) (int, gateway.AddResponse, string) {
	t.Helper()
	body, ctype := multipartBody(t, parts)
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	var out gateway.AddResponse
	json.Unmarshal(raw.Bytes(), &out)
	return resp.StatusCode, out, raw.String()
}

// A folder uploaded in kubo's multipart form, with its directory parts or
// with paths alone (as curl -F sends them), gets the CID that adding the
// same folder from disk gives; malformed names are refused with 400 and
// store nothing.
func TestFolderUploadsGetTheCIDOfTheSameFolderOnDisk(t *testing.T) {
	srv, n := newGateway(t, func(c *gateway.Config) { c.MaxUploadSize = 8 << 20 })
	root := filepath.Join(t.TempDir(), "album")
	for _, f := range []struct{ path, body string }{
		{"a.txt", "alpha\n"}, {"sub/b.txt", "bravo\n"}, {"sub/deep/c.txt", strings.Repeat("c", 300_000)}, {"z.txt", "zulu\n"},
	} {
		full := filepath.Join(root, f.path)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("a.txt", filepath.Join(root, "link"))
	want, err := chunk.AddDir(context.Background(), root, nil, chunk.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(root, p)); return string(b) }
	withDirs := []part{
		{"album", "dir", ""}, {"album/a.txt", "file", read("a.txt")}, {"album/link", "link", "a.txt"},
		{"album/sub", "dir", ""}, {"album/sub/b.txt", "file", read("sub/b.txt")},
		{"album/sub/deep", "dir", ""}, {"album/sub/deep/c.txt", "file", read("sub/deep/c.txt")},
		{"album/z.txt", "file", read("z.txt")},
	}
	var pathsOnly []part
	for _, p := range withDirs {
		if p.kind != "dir" {
			pathsOnly = append(pathsOnly, p)
		}
	}
	for name, parts := range map[string][]part{"with directory parts": withDirs, "paths alone": pathsOnly} {
		for _, route := range []string{"/api/v1/add", "/ipfs/"} {
			status, out, raw := postParts(t, srv.URL+route, parts)
			if status != http.StatusCreated || out.Cid != want.Root.String() || out.Files != 4 {
				t.Errorf("%s to %s: %d %s, want 201 with %s and 4 files", name, route, status, raw, want.Root)
			}
		}
	}

	pinsBefore := clusterPins(t, n)
	for name, parts := range map[string][]part{
		"dot-dot":          {{"album", "dir", ""}, {"album/../x", "file", "x"}},
		"NUL in a name":    {{"album", "dir", ""}, {"album/a\x00b", "file", "x"}},
		"outside the root": {{"album", "dir", ""}, {"other/x", "file", "x"}},
		"under a file":     {{"album", "dir", ""}, {"album/f", "file", "x"}, {"album/f/g", "file", "y"}},
		"a name twice":     {{"album", "dir", ""}, {"album/f", "file", "x"}, {"album/f", "file", "y"}},
		"absolute":         {{"/album", "dir", ""}},
	} {
		status, _, raw := postParts(t, srv.URL+"/api/v1/add", parts)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, status, raw)
		}
	}
	// A refused tree may leave the few blocks written before the refusal,
	// unpinned, for GC to take; it never pins or acknowledges anything.
	if pins := clusterPins(t, n); pins != pinsBefore {
		t.Errorf("refused uploads changed the pins: %d before, %d after", pinsBefore, pins)
	}
}

// clusterPins counts the cluster's pins as n sees them (not n's own
// pins, which are retired as the set takes them over).
func clusterPins(t *testing.T, n *node.Node) int {
	t.Helper()
	c := 0
	if err := n.ClusterPins(context.Background(), func(node.ClusterPin) error { c++; return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}
