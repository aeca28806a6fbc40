package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/spf13/cobra"
)

// backend is where a command's work happens: the running daemon (through
// its API) when there is one, else the local repo, offline.
type backend interface {
	add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error)
	// addTree adds the folder at dir (dotfiles only if hidden).
	addTree(ctx context.Context, dir string, hidden bool, opts chunk.DirOptions) (gateway.AddResponse, error)
	open(ctx context.Context, c cid.Cid) (io.ReadCloser, uint64, error)
	stat(ctx context.Context, c cid.Cid) (gateway.StatResponse, error)
	importCAR(ctx context.Context, r io.Reader, pinRoots bool) (gateway.ImportResponse, error)
	// exportCAR writes the DAG under c to w as a CARv1.
	exportCAR(ctx context.Context, c cid.Cid, w io.Writer) error
	// resolve follows path from c through folders ("" is c itself).
	resolve(ctx context.Context, c cid.Cid, path string) (cid.Cid, error)
	// describe tells what c is: a file, folder or symlink.
	describe(ctx context.Context, c cid.Cid) (gateway.DirEntry, error)
	// list lists the folder c.
	list(ctx context.Context, c cid.Cid) ([]gateway.DirEntry, error)
	repoStat(ctx context.Context) (gateway.RepoStatResponse, error)
	verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error)
	gc(ctx context.Context) (gateway.GCResponse, error)
	// The cluster's pin set and status: offline, these fail with the
	// Offline backend's message (they need the daemon).
	pin(ctx context.Context, c cid.Cid, req gateway.PinRequest) (gateway.PinResult, error)
	unpin(ctx context.Context, c cid.Cid) error
	pins(ctx context.Context, fn func(gateway.PinInfo) error) error
	clusterStatus(ctx context.Context) (gateway.ClusterStatus, error)
	pinStatus(ctx context.Context, c cid.Cid) (gateway.PinStatus, error)
	Close() error
}

func openBackend(cmd *cobra.Command) (backend, error) {
	path, err := repoPath(cmd)
	if err != nil {
		return nil, err
	}
	c, err := daemonClient(path)
	if err != nil {
		return nil, err
	}
	if c != nil {
		return &remote{c: c, path: path}, nil
	}
	return openLocalAt(path, cmd.ErrOrStderr())
}

// withBackend runs fn on the command's backend and closes it.
func withBackend(cmd *cobra.Command, fn func(b backend) error) error {
	b, err := openBackend(cmd)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// --- offline, on the local repo: the gateway's own backend ---

func (l *local) add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	return l.b.Add(ctx, in, opts)
}

func (l *local) addTree(ctx context.Context, dir string, hidden bool, opts chunk.DirOptions) (gateway.AddResponse, error) {
	tr := chunk.DiskTree(dir, hidden)
	defer tr.Close()
	return l.b.AddTree(ctx, tr, opts)
}

func (l *local) open(ctx context.Context, c cid.Cid) (io.ReadCloser, uint64, error) {
	f, err := l.b.Open(ctx, c, gateway.ReadOptions{})
	if err != nil {
		return nil, 0, err
	}
	return f, f.Size(), nil
}

func (l *local) stat(ctx context.Context, c cid.Cid) (gateway.StatResponse, error) {
	return l.b.Stat(ctx, c, gateway.ReadOptions{})
}

func (l *local) importCAR(ctx context.Context, r io.Reader, pinRoots bool) (gateway.ImportResponse, error) {
	return l.b.ImportCAR(ctx, r, pinRoots)
}

func (l *local) exportCAR(ctx context.Context, c cid.Cid, w io.Writer) error {
	car, err := carstorage.NewWritable(w, []cid.Cid{c}, carv2.WriteAsCarV1(true))
	if err != nil {
		return err
	}
	return l.b.Walk(ctx, c, gateway.ReadOptions{}, func(b cid.Cid, data []byte) error {
		return car.Put(ctx, b.KeyString(), data)
	})
}

func (l *local) resolve(ctx context.Context, c cid.Cid, path string) (cid.Cid, error) {
	return l.b.Resolve(ctx, c, path, gateway.ReadOptions{})
}

func (l *local) describe(ctx context.Context, c cid.Cid) (gateway.DirEntry, error) {
	return l.b.Describe(ctx, c, gateway.ReadOptions{})
}

func (l *local) list(ctx context.Context, c cid.Cid) ([]gateway.DirEntry, error) {
	return l.b.List(ctx, c, gateway.ReadOptions{})
}

func (l *local) repoStat(ctx context.Context) (gateway.RepoStatResponse, error) {
	return l.b.RepoStat(ctx)
}

func (l *local) verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error) {
	return l.b.Verify(ctx, progress)
}

func (l *local) gc(ctx context.Context) (gateway.GCResponse, error) { return l.b.GC(ctx) }

func (l *local) pin(ctx context.Context, c cid.Cid, req gateway.PinRequest) (gateway.PinResult, error) {
	return l.b.Pin(ctx, c, req, gateway.ReadOptions{})
}

func (l *local) unpin(ctx context.Context, c cid.Cid) error { return l.b.Unpin(ctx, c) }

func (l *local) pins(ctx context.Context, fn func(gateway.PinInfo) error) error {
	return l.b.Pins(ctx, fn)
}

func (l *local) clusterStatus(ctx context.Context) (gateway.ClusterStatus, error) {
	return l.b.ClusterStatus(ctx)
}

func (l *local) pinStatus(ctx context.Context, c cid.Cid) (gateway.PinStatus, error) {
	return l.b.PinStatus(ctx, c, gateway.ReadOptions{})
}

// --- through the daemon ---

type remote struct {
	c    *apiClient
	path string // the repo's directory, which the daemon does not tell
}

func (r *remote) Close() error { return nil }

func (r *remote) add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	var out gateway.AddResponse
	body := &countingReader{r: in, progress: opts.Progress}
	q := url.Values{"hash": {opts.Hash.String()}}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	err := r.c.call(ctx, http.MethodPost, "/api/v1/add?"+q.Encode(), body, &out)
	return out, err
}

// addTree sends the folder as kubo's CLI does: one multipart part per
// file, directory and symlink, depth-first, streamed as it is read.
func (r *remote) addTree(ctx context.Context, dir string, hidden bool, opts chunk.DirOptions) (gateway.AddResponse, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return gateway.AddResponse{}, err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeTreeParts(mw, filepath.Base(abs), chunk.DiskTree(dir, hidden), opts.Progress))
	}()
	defer pr.Close() // stops the writer if the call ends early
	var out gateway.AddResponse
	err = r.c.callType(ctx, http.MethodPost, "/api/v1/add?hash="+url.QueryEscape(opts.Hash.String()), mw.FormDataContentType(), pr, &out)
	return out, err
}

func (r *remote) open(ctx context.Context, c cid.Cid) (io.ReadCloser, uint64, error) {
	resp, err := r.c.request(ctx, http.MethodGet, "/ipfs/"+c.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	size, _ := strconv.ParseUint(resp.Header.Get("Content-Length"), 10, 64)
	return resp.Body, size, nil
}

func (r *remote) stat(ctx context.Context, c cid.Cid) (gateway.StatResponse, error) {
	var out gateway.StatResponse
	return out, r.c.call(ctx, http.MethodGet, "/api/v1/stat/"+c.String(), nil, &out)
}

func (r *remote) importCAR(ctx context.Context, in io.Reader, pinRoots bool) (gateway.ImportResponse, error) {
	var out gateway.ImportResponse
	err := r.c.call(ctx, http.MethodPost, "/api/v1/dag/import?pin-roots="+strconv.FormatBool(pinRoots), in, &out)
	return out, err
}

func (r *remote) exportCAR(ctx context.Context, c cid.Cid, w io.Writer) error {
	resp, err := r.c.request(ctx, http.MethodGet, "/api/v1/dag/export/"+c.String(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return err
	}
	// Past its first bytes a CAR can only be cut short; the daemon says
	// why in a trailer, which must not pass for a whole export.
	if why := resp.Trailer.Get("X-Stream-Error"); why != "" {
		return fmt.Errorf("export %s cut short: %s", c, why)
	}
	return nil
}

func (r *remote) resolve(ctx context.Context, c cid.Cid, path string) (cid.Cid, error) {
	if path == "" {
		return c, nil
	}
	var out gateway.DirEntry
	if err := r.c.call(ctx, http.MethodGet, "/api/v1/resolve/"+c.String()+"/"+escapePath(path), nil, &out); err != nil {
		return cid.Undef, err
	}
	return cid.Decode(out.CID)
}

func (r *remote) describe(ctx context.Context, c cid.Cid) (gateway.DirEntry, error) {
	var out gateway.DirEntry
	return out, r.c.call(ctx, http.MethodGet, "/api/v1/resolve/"+c.String(), nil, &out)
}

func (r *remote) list(ctx context.Context, c cid.Cid) ([]gateway.DirEntry, error) {
	var out gateway.LsResponse
	return out.Entries, r.c.call(ctx, http.MethodGet, "/api/v1/ls/"+c.String(), nil, &out)
}

// escapePath escapes each name of a slash-separated path for a URL.
func escapePath(p string) string {
	names := strings.Split(p, "/")
	for i, n := range names {
		names[i] = url.PathEscape(n)
	}
	return strings.Join(names, "/")
}

func (r *remote) repoStat(ctx context.Context) (gateway.RepoStatResponse, error) {
	var out gateway.RepoStatResponse
	err := r.c.call(ctx, http.MethodGet, "/api/v1/repo/stat", nil, &out)
	out.Path = r.path
	return out, err
}

func (r *remote) verify(ctx context.Context, _ func(int64)) (gateway.VerifyResponse, error) {
	var out gateway.VerifyResponse
	return out, r.c.call(ctx, http.MethodPost, "/api/v1/repo/verify", nil, &out)
}

// countingReader reports upload progress.
type countingReader struct {
	r        io.Reader
	n        uint64
	progress func(uint64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += uint64(k)
	if c.progress != nil && k > 0 {
		c.progress(c.n)
	}
	return k, err
}

func (r *remote) gc(ctx context.Context) (gateway.GCResponse, error) {
	var out gateway.GCResponse
	return out, r.c.call(ctx, http.MethodPost, "/api/v1/repo/gc", nil, &out)
}

func (r *remote) pin(ctx context.Context, c cid.Cid, req gateway.PinRequest) (gateway.PinResult, error) {
	q := url.Values{}
	if req.Name != "" {
		q.Set("name", req.Name)
	}
	if req.Replicas != 0 {
		q.Set("replicas", strconv.Itoa(req.Replicas))
	}
	path := "/api/v1/pins/" + c.String()
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out gateway.PinResponse
	if err := r.c.call(ctx, http.MethodPost, path, nil, &out); err != nil {
		return gateway.PinResult{}, err
	}
	return gateway.PinResult{Copies: out.Copies}, nil
}

func (r *remote) unpin(ctx context.Context, c cid.Cid) error {
	var out gateway.PinsResponse
	return r.c.call(ctx, http.MethodDelete, "/api/v1/pins/"+c.String(), nil, &out)
}

// pins reads the daemon's streamed list entry by entry: a list cut short
// (the daemon failed midway) is an error, not a shorter list.
func (r *remote) pins(ctx context.Context, fn func(gateway.PinInfo) error) error {
	resp, err := r.c.request(ctx, http.MethodGet, "/api/v1/pins", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	bad := func(err error) error { return fmt.Errorf("daemon at %s: bad list of pins: %w", r.c.base, err) }
	for _, want := range []json.Token{json.Delim('{'), "Entries", json.Delim('[')} {
		if tok, err := dec.Token(); err != nil || tok != want {
			return bad(fmt.Errorf("got %v (%v), want %v", tok, err, want))
		}
	}
	for dec.More() {
		var p gateway.PinInfo
		if err := dec.Decode(&p); err != nil {
			return bad(err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	for _, want := range []json.Token{json.Delim(']'), json.Delim('}')} {
		if tok, err := dec.Token(); err != nil || tok != want {
			return bad(fmt.Errorf("got %v (%v), want %v", tok, err, want))
		}
	}
	return nil
}

func (r *remote) clusterStatus(ctx context.Context) (gateway.ClusterStatus, error) {
	var out gateway.ClusterStatus
	return out, r.c.call(ctx, http.MethodGet, "/api/v1/status", nil, &out)
}

func (r *remote) pinStatus(ctx context.Context, c cid.Cid) (gateway.PinStatus, error) {
	var out gateway.PinStatus
	return out, r.c.call(ctx, http.MethodGet, "/api/v1/status/"+c.String(), nil, &out)
}
