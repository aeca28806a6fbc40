package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// Response types: the trustless ones (IPFS trustless gateway spec), and
// the documents a path gateway serves or converts blocks of IPLD codecs to.
const (
	mimeRaw     = "application/vnd.ipld.raw"
	mimeCAR     = "application/vnd.ipld.car"
	mimeDagJSON = "application/vnd.ipld.dag-json"
	mimeDagCBOR = "application/vnd.ipld.dag-cbor"
	mimeJSON    = "application/json"
	mimeCBOR    = "application/cbor"
	mimeHTML    = "text/html"
)

// formatTypes maps the values of ?format= to the types they ask for.
var formatTypes = map[string]string{
	"raw": mimeRaw, "car": mimeCAR,
	"dag-json": mimeDagJSON, "dag-cbor": mimeDagCBOR, "json": mimeJSON, "cbor": mimeCBOR,
}

// responseFormat picks the representation a read asks for: ?format=
// first, then the first type of the Accept header that cairn serves; ""
// is the content itself. text/html counts only for IPLD documents (a
// browser asking for one gets a page about it), and json and cbor only
// for blocks of those codecs: for a UnixFS file they change nothing.
func responseFormat(r *http.Request) (string, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		t, ok := formatTypes[f]
		if !ok {
			return "", fmt.Errorf("unknown format %q: use raw, car, dag-json, dag-cbor, json or cbor", f)
		}
		return t, nil
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mimeRaw, mimeCAR, mimeDagJSON, mimeDagCBOR, mimeJSON, mimeCBOR, mimeHTML:
			return mt, nil
		}
	}
	return "", nil
}

// immutable sets the headers every /ipfs/ representation shares: content
// addressing means a response for a CID never changes, so caches may keep
// it as long as they like; each form has its own ETag.
func immutable(h http.Header, etag string) {
	h.Set("Etag", etag)
	h["Cache-Control"] = cacheImmutable
	h["X-Content-Type-Options"] = noSniff
}

var (
	cacheImmutable = []string{"public, max-age=29030400, immutable"}
	noSniff        = []string{"nosniff"}
)

// etagMatch reports whether an If-None-Match header (a list of ETags, weak
// or strong, or *) names one of etags: a weak match is enough, as RFC 9110
// says for If-None-Match.
func etagMatch(header string, etags ...string) bool {
	if header == "" {
		return false
	}
	for _, m := range strings.Split(header, ",") {
		m = strings.TrimPrefix(strings.TrimSpace(m), "W/")
		if m == "*" || slices.Contains(etags, m) {
			return true
		}
	}
	return false
}

// serveRaw answers the one block /ipfs/root/rest names, verifiable
// against its CID by the client; the path may go through dag-cbor and
// dag-json documents as well as directories.
func (s *Server) serveRaw(w http.ResponseWriter, r *http.Request, root cid.Cid, rest string) {
	ctx := r.Context()
	get := backendGetter{s: s, ro: s.readOpts()}
	roots := []string{root.String()}
	c, err := chunk.ResolveTrail(ctx, get, root, rest, func(b cid.Cid, _ []byte) error {
		if b.String() != roots[len(roots)-1] {
			roots = append(roots, b.String())
		}
		return nil
	})
	if err != nil {
		writeError(w, pathStatus(err), err)
		return
	}
	data, err := get.Get(ctx, c)
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	if c.String() != roots[len(roots)-1] {
		roots = append(roots, c.String())
	}
	h := w.Header()
	h.Set("Content-Type", mimeRaw)
	immutable(h, `"`+c.String()+`.raw"`)
	h.Set("X-Ipfs-Path", r.URL.EscapedPath())
	h.Set("X-Ipfs-Roots", strings.Join(roots, ","))
	// A block is a download, never a page to render.
	name := c.String() + ".bin"
	if q := r.URL.Query().Get("filename"); q != "" {
		name = path.Base(strings.ReplaceAll(q, `\`, "/"))
	}
	h.Set("Content-Disposition", contentDisposition("attachment", name))
	// ServeContent answers Range requests (and HEAD) over the block.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// errHeadDone ends the walk of a HEAD request once its headers are set.
var errHeadDone = errors.New("head: headers set")

// handleUpload is POST /ipfs/: the body is the file, unless it is
// multipart/form-data: then a folder (parts with paths, as kubo sends
// them), or the first file part. 201 with Location.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	s.upload(w, r, chunk.AddOptions{})
}

// upload stores the body of an add (a file, or a folder in multipart
// form) and answers 201 with its CID and Location.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, opts chunk.AddOptions) {
	body := io.Reader(http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize))
	var res AddResponse
	var err error
	if mt, params, perr := mime.ParseMediaType(r.Header.Get("Content-Type")); perr == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(body, params["boundary"])
		part, ferr := firstFilePart(mr)
		if ferr != nil {
			writeError(w, http.StatusBadRequest, ferr)
			return
		}
		var first uploadPart
		if partFileName(part) != "" {
			first, ferr = readUploadPart(part)
		}
		switch {
		case ferr != nil:
			writeError(w, http.StatusBadRequest, ferr)
			return
		case first.Part != nil && first.isTree():
			// The client chose what to send (Hidden); the pin is named
			// ?name= or else after the folder.
			dopts := chunk.DirOptions{Hash: opts.Hash, Hidden: true, Name: opts.Name}
			if dopts.Name == "" {
				dopts.Name = uploadName(first.path[0])
			}
			res, err = s.cfg.Backend.AddTree(r.Context(), newMultipartTree(mr, first), dopts)
		default:
			if opts.Name == "" {
				opts.Name = uploadName(part.FileName())
			}
			res, err = s.cfg.Backend.Add(r.Context(), part, opts)
		}
	} else {
		res, err = s.cfg.Backend.Add(r.Context(), body, opts)
	}
	if err != nil {
		s.addFailed(w, err)
		return
	}
	w.Header().Set("Location", "/ipfs/"+res.Cid)
	w.Header().Set("Ipfs-Hash", res.Cid)
	writeJSON(w, http.StatusCreated, res)
}

// uploadName is the pin name an uploaded file's part gives it: its
// filename's last element, or none when the set would refuse it (the
// name is a label; an odd one is no reason to fail the upload).
func uploadName(filename string) string {
	name := path.Base(filename)
	if name == "." || name == "/" || CheckPinName(name) != nil {
		return ""
	}
	return name
}

func firstFilePart(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("multipart upload without a file part")
		}
		if err != nil {
			return nil, fmt.Errorf("malformed multipart body: %w", err)
		}
		if p.FileName() != "" || p.FormName() == "file" {
			return p, nil
		}
	}
}

// addFailed maps a failed add to its status.
func (s *Server) addFailed(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		status = http.StatusRequestEntityTooLarge
		err = fmt.Errorf("upload larger than the limit of %d bytes (Gateway.MaxUploadSize)", tooBig.Limit)
	case errors.Is(err, ErrFull):
		status = http.StatusInsufficientStorage
	case errors.Is(err, chunk.ErrBadTree), errors.Is(err, chunk.ErrUnsupportedFileType), badBlock(err):
		status = http.StatusBadRequest
	}
	writeError(w, status, err)
}

// fileHeaders sets the type and disposition of a file response from
// ?filename= when given (ServeContent sniffs the type otherwise).
func fileHeaders(h http.Header, r *http.Request) {
	name := r.URL.Query().Get("filename")
	if name == "" {
		return
	}
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		h.Set("Content-Type", t)
	}
	disp := "inline"
	if r.URL.Query().Get("download") == "true" {
		disp = "attachment"
	}
	h.Set("Content-Disposition", contentDisposition(disp, name))
}

// contentDisposition is a Content-Disposition whose filename is always
// quoted, as IPFS gateways write it and their clients expect; a name
// outside printable ASCII is also given in full as filename* (RFC 8187),
// with a plain fallback for clients that do not read that.
func contentDisposition(disp, name string) string {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	plain := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, name)
	out := disp + `; filename="` + esc.Replace(plain) + `"`
	if plain != name {
		out += "; filename*=UTF-8''" + url.PathEscape(name)
	}
	return out
}

// jsonSniffMax is the largest file sniffJSON reads whole.
const jsonSniffMax = 64 << 10

// sniffType sets a file's type from its first bytes, as ServeContent
// would, and also types a small file that is JSON as application/json,
// which ServeContent's sniffing (text/plain) does not; a larger file keeps
// text/plain, since telling JSON would mean reading all of it first. It
// reads the head once and seeks back once, as ServeContent's own sniffing
// does, which it then skips.
func sniffType(h http.Header, f File) {
	want := f.Size()
	if want > jsonSniffMax {
		want = 512 // what ServeContent sniffs
	}
	buf := make([]byte, want)
	n, err := io.ReadFull(f, buf)
	if _, serr := f.Seek(0, io.SeekStart); serr != nil || (err != nil && err != io.ErrUnexpectedEOF) {
		return // ServeContent sniffs, or fails, itself
	}
	head := buf[:n]
	ctype := http.DetectContentType(head[:min(n, 512)])
	if uint64(n) == f.Size() && n > 0 && strings.HasPrefix(ctype, "text/plain") && json.Valid(head) {
		ctype = mimeJSON
	}
	h.Set("Content-Type", ctype)
}
