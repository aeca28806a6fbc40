// Package nodeapi puts cairn's node behind the gateway's Backend: Online
// serves the daemon's node.Node, Offline a repo's node.Local opened
// without the network (the CLI when no daemon runs). Both produce the
// same answers in the same types, so a command prints the same thing
// through the daemon's API and offline. It lives under cmd because cmd
// wires the two sides together: the gateway imports neither node nor
// store, and node knows nothing of HTTP.
package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
)

// Offline serves a repo's local content; network operations answer
// gateway.ErrOffline, and a block not held here says to start the daemon.
type Offline struct {
	L *node.Local
	// WriteQuorum is reported with an add (the copies a daemon would
	// have made before answering).
	WriteQuorum int
	// Path is the repo's directory, for RepoStat.
	Path string
}

var _ gateway.Backend = (*Offline)(nil)

// Has implements gateway.Backend.
func (o *Offline) Has(c cid.Cid) bool { return o.L.Has(c) }

// Open implements gateway.Backend.
func (o *Offline) Open(ctx context.Context, c cid.Cid, _ gateway.ReadOptions) (gateway.File, error) {
	r, err := o.L.Reader(ctx, c)
	if err != nil {
		return nil, notLocal(c, err)
	}
	return &localFile{Reader: r, c: c}, nil
}

// localFile names a block missing mid-file the way Open does.
type localFile struct {
	*chunk.Reader
	c cid.Cid
}

func (f *localFile) Read(p []byte) (int, error) {
	k, err := f.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = notLocal(f.c, err)
	}
	return k, err
}

// Block implements gateway.Backend.
func (o *Offline) Block(ctx context.Context, c cid.Cid, _ gateway.ReadOptions) ([]byte, error) {
	data, err := o.L.Block(ctx, c)
	return data, notLocal(c, err)
}

// Walk implements gateway.Backend.
func (o *Offline) Walk(ctx context.Context, c cid.Cid, _ gateway.ReadOptions, fn func(cid.Cid, []byte) error) error {
	return notLocal(c, o.L.Walk(ctx, c, fn))
}

// Stat implements gateway.Backend.
func (o *Offline) Stat(ctx context.Context, c cid.Cid, _ gateway.ReadOptions) (gateway.StatResponse, error) {
	st, blocks, err := o.L.Stat(ctx, c)
	if err != nil {
		return gateway.StatResponse{}, notLocal(c, err)
	}
	return statResponse(c, st, blocks), nil
}

// Resolve implements gateway.Backend.
func (o *Offline) Resolve(ctx context.Context, c cid.Cid, path string, _ gateway.ReadOptions) (cid.Cid, error) {
	r, err := o.L.Resolve(ctx, c, path)
	return r, notLocal(c, err)
}

// Describe implements gateway.Backend.
func (o *Offline) Describe(ctx context.Context, c cid.Cid, _ gateway.ReadOptions) (gateway.DirEntry, error) {
	st, err := o.L.Inspect(ctx, c)
	if err != nil {
		return gateway.DirEntry{}, notLocal(c, err)
	}
	return describe(st), nil
}

// List implements gateway.Backend.
func (o *Offline) List(ctx context.Context, c cid.Cid, ro gateway.ReadOptions) ([]gateway.DirEntry, error) {
	out, err := list(ctx, c, ro.Describe, func(fn func(chunk.DirEntry) error) error { return o.L.List(ctx, c, fn) },
		func(ctx context.Context, c cid.Cid) (chunk.Stat, error) { return o.L.Inspect(ctx, c) })
	return out, notLocal(c, err)
}

// Replicas implements gateway.Backend.
func (o *Offline) Replicas(context.Context, cid.Cid, gateway.ReadOptions) (gateway.ReplicasResponse, error) {
	return gateway.ReplicasResponse{}, gateway.ErrOffline
}

// Add implements gateway.Backend.
func (o *Offline) Add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (gateway.AddResponse, error) {
	res, err := o.L.Add(ctx, r, opts)
	if err != nil {
		return gateway.AddResponse{}, storeError(err)
	}
	// Offline, this copy is the only one.
	return addResponse(res, 1, o.WriteQuorum), nil
}

// AddTree implements gateway.Backend.
func (o *Offline) AddTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (gateway.AddResponse, error) {
	res, err := o.L.AddTree(ctx, tr, opts)
	if err != nil {
		return gateway.AddResponse{}, storeError(err)
	}
	return treeResponse(res, 1, o.WriteQuorum), nil
}

// ImportCAR implements gateway.Backend.
func (o *Offline) ImportCAR(ctx context.Context, r io.Reader, pinRoots bool) (gateway.ImportResponse, error) {
	res, err := o.L.ImportCAR(ctx, r, pinRoots)
	return importResponse(res), importError(err)
}

// errPinsOffline is what the pin calls answer offline: the cluster's set
// is replicated between running nodes, and a change made here alone would
// be one the cluster never hears of.
var errPinsOffline = mark(errors.New("the cluster's pin set needs the daemon: start it with `cairn daemon`"), gateway.ErrOffline)

// Pin implements gateway.Backend: offline, it cannot.
func (o *Offline) Pin(context.Context, cid.Cid, gateway.PinRequest, gateway.ReadOptions) (gateway.PinResult, error) {
	return gateway.PinResult{}, errPinsOffline
}

// Unpin implements gateway.Backend: offline, it cannot.
func (o *Offline) Unpin(context.Context, cid.Cid) error { return errPinsOffline }

// Pins implements gateway.Backend: offline, it cannot.
func (o *Offline) Pins(context.Context, func(gateway.PinInfo) error) error { return errPinsOffline }

// ClusterStatus implements gateway.Backend: offline, it cannot.
func (o *Offline) ClusterStatus(context.Context) (gateway.ClusterStatus, error) {
	return gateway.ClusterStatus{}, errPinsOffline
}

// PinStatus implements gateway.Backend: offline, it cannot.
func (o *Offline) PinStatus(context.Context, cid.Cid, gateway.ReadOptions) (gateway.PinStatus, error) {
	return gateway.PinStatus{}, errPinsOffline
}

// RepoStat implements gateway.Backend.
func (o *Offline) RepoStat(context.Context) (gateway.RepoStatResponse, error) {
	out := repoStat(o.L.Stats())
	out.Path = o.Path
	return out, nil
}

// Verify implements gateway.Backend.
func (o *Offline) Verify(ctx context.Context, progress func(int64)) (gateway.VerifyResponse, error) {
	return verify(ctx, o.L, progress)
}

// GC implements gateway.Backend.
func (o *Offline) GC(ctx context.Context) (gateway.GCResponse, error) { return gc(ctx, o.L) }

// Drain implements gateway.Backend.
func (o *Offline) Drain(context.Context) (gateway.DrainResponse, error) {
	return gateway.DrainResponse{}, gateway.ErrOffline
}

// Identity implements gateway.Backend.
func (o *Offline) Identity() gateway.IDResponse { return gateway.IDResponse{Addresses: []string{}} }

// Peers implements gateway.Backend.
func (o *Offline) Peers() []gateway.PeerInfo { return []gateway.PeerInfo{} }

// Connect implements gateway.Backend.
func (o *Offline) Connect(context.Context, string) (gateway.PeerInfo, error) {
	return gateway.PeerInfo{}, gateway.ErrOffline
}

// Providers implements gateway.Backend.
func (o *Offline) Providers(context.Context, cid.Cid, int) (gateway.ProvidersResponse, error) {
	return gateway.ProvidersResponse{}, gateway.ErrOffline
}

// Metrics implements gateway.Backend.
func (o *Offline) Metrics() gateway.Metrics {
	st := o.L.Stats()
	return gateway.Metrics{StoreBlocks: st.Blocks, StoreBytes: st.Bytes, StoreGarbage: st.Garbage}
}

// notLocal rewrites a store miss into the message a user can act on.
func notLocal(c cid.Cid, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return mark(fmt.Errorf("%s not found locally; start the daemon (`cairn daemon`) to fetch it from peers", c), gateway.ErrNoProvider)
	}
	return err
}

// --- shared by both backends ---

func statResponse(c cid.Cid, st chunk.Stat, blocks int) gateway.StatResponse {
	return gateway.StatResponse{CID: c.String(), Size: st.Size, Blocks: blocks, RootType: st.RootType}
}

func addResponse(res chunk.AddResult, copies, quorum int) gateway.AddResponse {
	return gateway.AddResponse{Cid: res.Root.String(), Size: res.Size, Blocks: res.Blocks,
		Copies: copies, WriteQuorum: quorum}
}

func importResponse(res node.ImportResult) gateway.ImportResponse {
	out := gateway.ImportResponse{Roots: []gateway.ImportRoot{}, Blocks: res.Blocks, Bytes: res.Bytes}
	for _, r := range res.Roots {
		ir := gateway.ImportRoot{CID: r.CID.String(), Pinned: r.Pinned}
		if r.Incomplete != nil {
			ir.Incomplete = r.Incomplete.Error()
		}
		out.Roots = append(out.Roots, ir)
	}
	return out
}

// importError marks a CAR that cannot be read as the client's fault.
func importError(err error) error {
	if errors.Is(err, node.ErrBadCAR) {
		return mark(err, gateway.ErrInvalid)
	}
	return storeError(err)
}

// describe turns a root block's description into the gateway's.
func describe(st chunk.Stat) gateway.DirEntry {
	d := gateway.DirEntry{CID: st.CID.String(), Type: st.RootType, Size: st.Size, Target: st.Target}
	switch st.RootType {
	case "raw":
		d.Type = "file"
	case "directory":
		d.Size = st.Cumulative
	}
	return d
}

// list lists a directory through each, describing every entry (or the
// first describeUpTo, when above 0) from its root block through inspect,
// listConcurrency at a time: an entry not held here is a fetch, and a
// folder's entries one after another took milliseconds each.
func list(ctx context.Context, dir cid.Cid, describeUpTo int, each func(func(chunk.DirEntry) error) error, inspect func(context.Context, cid.Cid) (chunk.Stat, error)) ([]gateway.DirEntry, error) {
	var entries []chunk.DirEntry
	if err := each(func(e chunk.DirEntry) error {
		entries = append(entries, e)
		return ctx.Err()
	}); err != nil {
		return nil, err
	}
	out := make([]gateway.DirEntry, len(entries))
	n := len(entries)
	if describeUpTo > 0 {
		n = min(n, describeUpTo)
	}
	for i, e := range entries[n:] {
		d := gateway.DirEntry{Name: e.Name, CID: e.CID.String(), Size: e.Tsize}
		if e.CID.Type() == cid.Raw {
			d.Type = "file"
		}
		out[n+i] = d
	}
	// The first failure stops the rest: those running are cancelled (a
	// fetch would otherwise run to its stall timeout), and the error
	// named is that of the first entry in the listing that failed.
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, listConcurrency)
	for i, e := range entries[:n] {
		select {
		case sem <- struct{}{}:
		case <-ictx.Done():
		}
		if ictx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := inspect(ictx, e.CID)
			if err != nil {
				errs[i] = fmt.Errorf("list %s: %s: %w", dir, e.Name, err)
				cancel()
				return
			}
			d := describe(st)
			d.Name = e.Name
			out[i] = d
		}()
	}
	wg.Wait()
	var echo error
	for _, err := range errs {
		// A cancelled entry's error only echoes the failure that
		// cancelled it, unless the caller's own context ended.
		if err != nil && (!errors.Is(err, context.Canceled) || ctx.Err() != nil) {
			return nil, err
		}
		if echo == nil {
			echo = err
		}
	}
	if err := errors.Join(ctx.Err(), echo); err != nil {
		return nil, err
	}
	return out, nil
}

// listConcurrency bounds the entries list describes at once.
const listConcurrency = 16

func treeResponse(res chunk.DirResult, copies, quorum int) gateway.AddResponse {
	return gateway.AddResponse{Cid: res.Root.String(), Size: res.Bytes, Blocks: res.Blocks,
		Copies: copies, WriteQuorum: quorum, Files: res.Files, Dirs: res.Dirs}
}

func repoStat(st store.Stats) gateway.RepoStatResponse {
	return gateway.RepoStatResponse{Blocks: st.Blocks, Bytes: st.Bytes, Segments: st.Segments,
		SegmentBytes: st.SegmentBytes, Garbage: st.Garbage}
}

func verify(ctx context.Context, l *node.Local, progress func(int64)) (gateway.VerifyResponse, error) {
	res, err := l.Verify(ctx, progress)
	if err != nil {
		return gateway.VerifyResponse{}, err
	}
	out := gateway.VerifyResponse{Checked: res.Checked, Failed: []gateway.VerifyFailure{}}
	for _, f := range res.Failed {
		out.Failed = append(out.Failed, gateway.VerifyFailure{
			Hash:  fmt.Sprintf("%s (multihash %s)", cid.NewCidV1(cid.Raw, f.Hash), f.Hash.B58String()),
			Error: f.Err.Error(),
		})
	}
	return out, nil
}

func gc(ctx context.Context, l *node.Local) (gateway.GCResponse, error) {
	st, err := l.GC(ctx)
	return gateway.GCResponse{Kept: st.Kept, Removed: st.Removed, Reclaimed: st.Reclaimed}, err
}

// storeError marks a store with no room as gateway.ErrFull: the block
// store's own, or a disk that was full under any of the repo's databases
// (the index, the pin set's state).
func storeError(err error) error {
	if node.NoRoom(err) {
		return mark(err, gateway.ErrFull)
	}
	return err
}
