package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

// backend is where a command's work happens: the running daemon (through
// its API) when there is one, else the local repo, offline.
type backend interface {
	add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error)
	open(ctx context.Context, c cid.Cid) (io.ReadCloser, uint64, error)
	stat(ctx context.Context, c cid.Cid) (gateway.StatResponse, error)
	repoStat(ctx context.Context) (gateway.RepoStatResponse, error)
	verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error)
	gc(ctx context.Context) (gateway.GCResponse, error)
	pin(ctx context.Context, c cid.Cid) error
	unpin(ctx context.Context, c cid.Cid) error
	pins(ctx context.Context) ([]string, error)
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
		return &remote{c: c}, nil
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

// --- offline, on the local repo ---

func (l *local) add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	defer l.store.HoldGC()() // until the root is pinned
	res, err := chunk.Add(ctx, in, l.store, opts)
	if err != nil {
		return gateway.AddResponse{}, err
	}
	// The CID is only reported once every block is durable; added content
	// is pinned on the adding node.
	if err := l.store.Sync(); err != nil {
		return gateway.AddResponse{}, err
	}
	if err := l.store.Pin(res.Root); err != nil {
		return gateway.AddResponse{}, err
	}
	// Offline, this copy is the only one.
	return gateway.AddResponse{Cid: res.Root.String(), Size: res.Size, Blocks: res.Blocks,
		Copies: 1, WriteQuorum: l.repo.Config().Replication.WriteQuorum}, nil
}

func (l *local) open(ctx context.Context, c cid.Cid) (io.ReadCloser, uint64, error) {
	r, err := chunk.NewReader(ctx, l.store, c)
	if err != nil {
		return nil, 0, notLocal(c, err)
	}
	return io.NopCloser(&notLocalReader{r: r, c: c}), r.Size(), nil
}

// notLocalReader names a block missing mid-file the way open does.
type notLocalReader struct {
	r io.Reader
	c cid.Cid
}

func (n *notLocalReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = notLocal(n.c, err)
	}
	return k, err
}

func (l *local) stat(ctx context.Context, c cid.Cid) (gateway.StatResponse, error) {
	st, err := chunk.StatDAG(ctx, l.store, c)
	if err != nil {
		return gateway.StatResponse{}, notLocal(c, err)
	}
	blocks := 0
	if err := chunk.WalkCIDs(ctx, l.store, c, func(cid.Cid) error { blocks++; return nil }); err != nil {
		return gateway.StatResponse{}, notLocal(c, err)
	}
	return gateway.StatResponse{CID: c.String(), Size: st.Size, Blocks: blocks, RootType: st.RootType}, nil
}

func (l *local) repoStat(context.Context) (gateway.RepoStatResponse, error) {
	st := l.store.Stats()
	return gateway.RepoStatResponse{Path: l.repo.Path(), Blocks: st.Blocks, Bytes: st.Bytes,
		Segments: st.Segments, SegmentBytes: st.SegmentBytes, Garbage: st.Garbage}, nil
}

func (l *local) verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error) {
	res, err := l.store.Verify(ctx, progress)
	if err != nil {
		return gateway.VerifyResponse{}, err
	}
	out := gateway.VerifyResponse{Checked: res.Checked}
	for _, f := range res.Failed {
		out.Failed = append(out.Failed, gateway.VerifyFailure{
			Hash:  fmt.Sprintf("%s (multihash %s)", cid.NewCidV1(cid.Raw, f.Hash), f.Hash.B58String()),
			Error: f.Err.Error(),
		})
	}
	return out, nil
}

func (l *local) gc(ctx context.Context) (gateway.GCResponse, error) {
	st, err := l.store.GC(ctx, nil)
	return gateway.GCResponse{Kept: st.Kept, Removed: st.Removed, Reclaimed: st.Reclaimed}, err
}

// pin pins a DAG held here in full; fetching the rest needs the daemon.
func (l *local) pin(ctx context.Context, c cid.Cid) error {
	defer l.store.HoldGC()()
	if err := chunk.WalkCIDs(ctx, l.store, c, func(b cid.Cid) error {
		ok, err := l.store.Has(b)
		if err == nil && !ok {
			err = fmt.Errorf("block %s: %w", b, store.ErrNotFound)
		}
		return err
	}); err != nil {
		return notLocal(c, err)
	}
	return l.store.Pin(c)
}

func (l *local) unpin(_ context.Context, c cid.Cid) error { return l.store.Unpin(c) }

func (l *local) pins(context.Context) ([]string, error) {
	pins, err := l.store.Pins()
	out := make([]string, len(pins))
	for i, c := range pins {
		out[i] = c.String()
	}
	return out, err
}

// notLocal rewrites a store miss into the message a user can act on.
func notLocal(c cid.Cid, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s not found locally; start the daemon (`cairn daemon`) to fetch it from peers", c)
	}
	return err
}

// --- through the daemon ---

type remote struct{ c *apiClient }

func (r *remote) Close() error { return nil }

func (r *remote) add(ctx context.Context, in io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	var out gateway.AddResponse
	body := &countingReader{r: in, progress: opts.Progress}
	err := r.c.call(ctx, http.MethodPost, "/api/v1/add?hash="+url.QueryEscape(opts.Hash.String()), body, &out)
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

func (r *remote) repoStat(ctx context.Context) (gateway.RepoStatResponse, error) {
	var out gateway.RepoStatResponse
	return out, r.c.call(ctx, http.MethodGet, "/api/v1/repo/stat", nil, &out)
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

func (r *remote) pin(ctx context.Context, c cid.Cid) error {
	var out gateway.PinsResponse
	return r.c.call(ctx, http.MethodPost, "/api/v1/pins/"+c.String(), nil, &out)
}

func (r *remote) unpin(ctx context.Context, c cid.Cid) error {
	var out gateway.PinsResponse
	return r.c.call(ctx, http.MethodDelete, "/api/v1/pins/"+c.String(), nil, &out)
}

func (r *remote) pins(ctx context.Context) ([]string, error) {
	var out gateway.PinsResponse
	err := r.c.call(ctx, http.MethodGet, "/api/v1/pins", nil, &out)
	return out.Pins, err
}
