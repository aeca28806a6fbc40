package gateway

import (
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// sandboxCSP is on every /ipfs/ response. Stored content shares its origin
// with /api/v1, so a stored page must not run as that origin: "sandbox"
// gives it an opaque origin of its own, in which its scripts, forms,
// pop-ups and downloads still work but cannot read the API's answers or
// the origin's storage.
const sandboxCSP = "sandbox allow-scripts allow-forms allow-popups allow-downloads"

// handleIPFS serves /ipfs/{cid}[/{path}]: a file's bytes as they arrive
// (single Range requests, If-None-Match, HEAD, an ETag of the CID and
// immutable caching, as content addressing allows); a folder's
// index.html, or else a listing of it; or, asked for, the trustless raw
// and CAR forms of what the path names.
func (s *Server) handleIPFS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Security-Policy"] = cspHeader
	readCORS(h)
	root, ok := s.cidParam(w, r)
	if !ok {
		return
	}
	h["Vary"] = varyAccept
	format, err := responseFormat(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	release, ok := s.acquireFetch(w, root)
	if !ok {
		return
	}
	defer release()
	rest := r.PathValue("path")
	if onlyIfCached(r) && !chunk.IsIdentity(root) && !s.cfg.Backend.Has(root) {
		// The client wants no fetch: say at once that it would need one.
		writeError(w, http.StatusPreconditionFailed, fmt.Errorf("%s is not held here (only-if-cached)", root))
		return
	}
	switch format {
	case mimeRaw:
		s.serveRaw(w, r, root, rest)
		return
	case mimeCAR:
		s.serveCAR(w, r, root, rest)
		return
	}
	c := root
	roots := []string{root.String()}
	switch {
	case isDocument(root):
		// UnixFS paths go through the backend; paths into documents go
		// through their maps and lists, which only chunk knows.
		c, err = chunk.ResolveTrail(r.Context(), backendGetter{s: s, ro: s.readOpts()}, root, rest, func(b cid.Cid, _ []byte) error {
			if b != root {
				roots = append(roots, b.String())
			}
			return nil
		})
	case rest != "":
		// Name by name, so that X-Ipfs-Roots can list what each names.
		for _, name := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
			if name == "" {
				err = fmt.Errorf("%s/%s: %w: empty name", root, rest, chunk.ErrNoSuchEntry)
				break
			}
			if c, err = s.cfg.Backend.Resolve(r.Context(), c, name, s.readOpts()); err != nil {
				break
			}
			roots = append(roots, c.String())
		}
	}
	if err != nil {
		writeError(w, pathStatus(err), err)
		return
	}
	if c != root && roots[len(roots)-1] != c.String() {
		roots = append(roots, c.String())
	}
	h.Set("X-Ipfs-Path", r.URL.EscapedPath())
	h.Set("X-Ipfs-Roots", strings.Join(roots, ","))
	// A document is served as one; UnixFS asked for as dag-json or
	// dag-cbor is its dag-pb data model (json and cbor change nothing).
	if isDocument(c) || format == mimeDagJSON || format == mimeDagCBOR {
		s.serveDocument(w, r, c, format, roots)
		return
	}
	etag := `"` + c.String() + `"`
	// A folder's listing has an ETag of its own; content addressing makes
	// either a match, whatever c turns out to be.
	if etagMatch(r.Header.Get("If-None-Match"), etag, listingETag(c)) {
		h.Set("Etag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if c.Type() == cid.Raw {
		// A raw block is a file: no need to read it twice.
		s.serveFile(w, r, c, etag, path.Base("/"+rest))
		return
	}
	d, err := s.cfg.Backend.Describe(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	switch d.Type {
	case "directory":
		s.serveDir(w, r, c, etag)
		return
	case "symlink":
		// A link's target means something only on the file system it was
		// taken from: serve the target text, as kubo does.
		immutable(h, etag)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method != http.MethodHead {
			w.Write([]byte(d.Target))
		}
		return
	}
	s.serveFile(w, r, c, etag, path.Base("/"+rest))
}

// readCORS lets pages of any origin read /ipfs/ content, as IPFS gateways
// do: it is public and verifiable, and the reads need no credentials
// (which "*" never sends). Only reads: the API and uploads get none.
func readCORS(h http.Header) {
	for k, v := range corsHeaders {
		h[k] = v
	}
}

// Headers every read sets, built once: set per request through
// CanonicalMIMEHeaderKey and a fresh slice each, they cost small reads a
// tenth of their time. The slices are full (len == cap), so an Add on one
// of these keys copies rather than writes into them.
var (
	corsHeaders = http.Header{
		"Access-Control-Allow-Origin":   {"*"},
		"Access-Control-Allow-Methods":  {"GET, HEAD, OPTIONS"},
		"Access-Control-Allow-Headers":  {"Content-Type, Range, User-Agent, X-Requested-With"},
		"Access-Control-Expose-Headers": {"Content-Range, Content-Length, X-Ipfs-Path, X-Ipfs-Roots, X-Chunked-Output, X-Stream-Output, X-Stream-Error"},
	}
	cspHeader  = []string{sandboxCSP}
	varyAccept = []string{"Accept"}
)

// handleIPFSOptions answers a CORS preflight of a read.
func (s *Server) handleIPFSOptions(w http.ResponseWriter, _ *http.Request) {
	readCORS(w.Header())
	w.WriteHeader(http.StatusOK)
}

// serveFile streams a file; name, the last component of its path, gives
// its type when it has a known extension.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, c cid.Cid, etag, name string) {
	// Stream: bytes go out as their blocks arrive, the first long before
	// the last block of a large file is fetched.
	f, err := s.cfg.Backend.Open(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	rd := &closeAfterReads{f: f}
	defer rd.Close()
	normalizeRanges(r.Header, int64(f.Size()))
	h := w.Header()
	immutable(h, etag)
	if t := mime.TypeByExtension(path.Ext(name)); t != "" && name != "/" {
		h.Set("Content-Type", t)
	}
	if h.Get("Content-Type") == "" {
		sniffType(h, rd)
	}
	fileHeaders(h, r)
	// ServeContent sniffs the type from the first bytes (seeking back)
	// when none is set, answers Range and conditional requests, and skips
	// the body on HEAD.
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// serveDir answers a folder: first a redirect to its path with a
// trailing slash (so that relative links in its pages resolve under it),
// then its index.html if it has one, else a listing.
func (s *Server) serveDir(w http.ResponseWriter, r *http.Request, c cid.Cid, etag string) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		u := *r.URL
		u.Path += "/"
		u.RawPath = ""
		if r.URL.RawPath != "" {
			u.RawPath = r.URL.RawPath + "/"
		}
		http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
		return
	}
	index, err := s.cfg.Backend.Resolve(r.Context(), c, "index.html", s.readOpts())
	switch {
	case err == nil:
		if d, derr := s.cfg.Backend.Describe(r.Context(), index, s.readOpts()); derr == nil && d.Type == "file" {
			// The page stands for the folder: the folder's ETag, which
			// the If-None-Match check above compares with.
			s.serveFile(w, r, index, `"`+c.String()+`"`, "index.html")
			return
		}
	case !errors.Is(err, chunk.ErrNoSuchEntry):
		writeError(w, pathStatus(err), err)
		return
	}
	lo := s.readOpts()
	lo.Describe = listingDescribed
	entries, err := s.cfg.Backend.List(r.Context(), c, lo)
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	h := w.Header()
	// A listing is cairn's page, not the content: it may change with
	// cairn, so it is cached for a week rather than for ever.
	h.Set("Etag", listingETag(c))
	h.Set("Cache-Control", "public, max-age=604800, stale-while-revalidate=2678400")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	rows := make([]listingRow, len(entries))
	for i, e := range entries {
		href := "./" + url.PathEscape(e.Name) // never read as a scheme
		if e.Type == "directory" {
			href += "/"
		}
		rows[i] = listingRow{DirEntry: e, Href: href}
	}
	listingPage.Execute(w, listing{Path: r.URL.Path, CID: c.String(), Entries: rows})
}

// listingETag is a listing's ETag: the template's version and the CID.
func listingETag(c cid.Cid) string { return `"DirIndex-` + listingVersion + `_CID-` + c.String() + `"` }

// listingVersion changes whenever listingPage does, so caches drop
// listings made with the old page.
const listingVersion = "cairn2"

// listingDescribed is how many entries of a folder's listing are
// described (type and file size, from each entry's root block); the rest
// show the size their link records. Describing reads a block per entry,
// or fetches it when the node does not hold it: a folder of 100,000
// files took that many reads for each view of its page.
const listingDescribed = 2000

type listingRow struct {
	DirEntry
	Href string
}

type listing struct {
	Path, CID string
	Entries   []listingRow
}

// listingPage is a folder's listing: names, sizes and CIDs, escaped by
// html/template, and no scripts.
var listingPage = template.Must(template.New("listing").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Path}}</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em 0 0}code{color:#555}</style></head>
<body><h1>{{.Path}}</h1><p><code>{{.CID}}</code></p>
<table><tr><th>name</th><th>size</th><th>CID</th></tr>
<tr><td><a href="../">..</a></td><td></td><td></td></tr>
{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if eq .Type "directory"}}/{{end}}</a></td><td>{{.Size}}</td><td><code>{{.CID}}</code></td></tr>
{{end}}</table></body></html>
`))

// pathStatus maps a failed path resolution to its status: a name not in
// its folder, or a path on through a file, is 404; malformed DAGs are 400.
func pathStatus(err error) int {
	switch {
	case errors.Is(err, chunk.ErrNoSuchEntry), errors.Is(err, chunk.ErrNotDir):
		return http.StatusNotFound
	case errors.Is(err, chunk.ErrBadDAG), errors.Is(err, chunk.ErrBadNode):
		return http.StatusBadRequest
	case errors.Is(err, chunk.ErrPathInBlock):
		// Serving a value inside a document is not implemented (as in
		// kubo): only paths that end on a link name something to serve.
		return http.StatusNotImplemented
	}
	return fetchStatus(err)
}
