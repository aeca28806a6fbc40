package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/refs"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Local is a repo's content without the network: the block store, the
// pins and replica-duty marks kept beside it, and GC. It is what a
// command works on offline; a Node embeds one and adds the network, so an
// add, a pin or a GC runs the same code with or without a daemon.
type Local struct {
	store *store.Store
	index *refs.Index   // which pinned roots reach each block
	grace time.Duration // how long unpinned and unclaimed blocks stay
	cf    *clusterFiles
	logf  func(format string, args ...any)
	// gcMu keeps GC out while a writer stores blocks and then marks them
	// (add and pin, a replica's push): GC never sees them unmarked.
	gcMu sync.RWMutex
}

// Pins and replica duty are the store's caller metadata, committed in
// the same synced batch as the blocks they protect:
//
//	"pin/" + root CID bytes     a DAG the user wants kept here, with the name
//	                            it was added under (empty: none, or an older cairn)
//	"duty/" + multihash         a block another node placed here as a replica,
//	                            with when (8-byte Unix ns; empty from an older cairn)
var (
	prefixPin  = []byte("pin/")
	prefixDuty = []byte("duty/")
)

// ErrNotPinned is returned by Unpin for a CID that is not pinned.
var ErrNotPinned = errors.New("not pinned")

func pinKey(c cid.Cid) []byte       { return append(append([]byte(nil), prefixPin...), c.Bytes()...) }
func dutyKey(k mh.Multihash) []byte { return append(append([]byte(nil), prefixDuty...), k...) }

// pinMeta is root's pin record. The name goes with it so that a pin the
// cluster's set has not heard of yet (a W=1 add acknowledged just before
// the node stopped) joins the set under it at the next start.
func pinMeta(c cid.Cid, name string) store.Meta {
	return store.Meta{Key: pinKey(c), Value: []byte(name)}
}
func dutyMeta(k mh.Multihash) store.Meta {
	return store.Meta{Key: dutyKey(k), Value: dutyValue(time.Now())}
}

func newLocal(s *store.Store, cf *clusterFiles, grace time.Duration, logf func(string, ...any)) *Local {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Local{store: s, cf: cf, index: cf.index, grace: grace, logf: logf}
}

// Store is the block store underneath, for tests and simulations that
// inspect or damage it; programs go through Local's methods.
func (l *Local) Store() *store.Store { return l.store }

// Close closes the store and the cluster files.
func (l *Local) Close() error { return errors.Join(l.store.Close(), l.cf.close()) }

// recordingSink stores blocks and remembers their keys (for announcing
// and replicating them), each once however often the DAG repeats it.
type recordingSink struct {
	s    *store.Store
	mu   sync.Mutex
	seen map[string]bool
	keys []mh.Multihash
}

func (p *recordingSink) PutHashed(c cid.Cid, data []byte) error {
	if err := p.s.PutHashed(c, data); err != nil {
		return err
	}
	k := c.Hash()
	p.mu.Lock()
	if !p.seen[string(k)] {
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		p.seen[string(k)] = true
		p.keys = append(p.keys, k)
	}
	p.mu.Unlock()
	return nil
}

// Add stores a file, durably, and pins it here; the pin is committed in
// the same batch as the file's blocks.
func (l *Local) Add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (chunk.AddResult, error) {
	res, _, err := l.add(ctx, r, opts)
	return res, err
}

// add is Add, also returning the keys of the blocks it stored.
func (l *Local) add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (chunk.AddResult, []mh.Multihash, error) {
	var res chunk.AddResult
	keys, err := l.store1(ctx, opts.Name, func(sink chunk.BlockSink) (cid.Cid, error) {
		var err error
		res, err = chunk.Add(ctx, r, sink, opts)
		return res.Root, err
	})
	return res, keys, err
}

// AddTree stores a tree of files, directories and symlinks (a folder on
// disk, or one uploaded as parts), durably, and pins its root.
func (l *Local) AddTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (chunk.DirResult, error) {
	res, _, err := l.addTree(ctx, tr, opts)
	return res, err
}

func (l *Local) addTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (chunk.DirResult, []mh.Multihash, error) {
	var res chunk.DirResult
	keys, err := l.store1(ctx, opts.Name, func(sink chunk.BlockSink) (cid.Cid, error) {
		var err error
		res, err = chunk.AddTree(ctx, tr, sink, opts)
		return res.Root, err
	})
	return res, keys, err
}

// store1 runs build, which stores a DAG through the sink it is given, and
// then commits the DAG's blocks and the pin of its root, named name, in
// one synced batch, under the GC hold. It returns the keys of the blocks
// stored.
func (l *Local) store1(ctx context.Context, name string, build func(chunk.BlockSink) (cid.Cid, error)) ([]mh.Multihash, error) {
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	sink := &recordingSink{s: l.store}
	root, err := build(sink)
	if err != nil {
		return nil, err
	}
	if err := l.store.Sync(pinMeta(root, name)); err != nil {
		return nil, fmt.Errorf("add %s: %w", root, err)
	}
	return sink.keys, nil
}

// Has reports whether the block is held here (an identity CID always is).
func (l *Local) Has(c cid.Cid) bool {
	if chunk.IsIdentity(c) {
		return true
	}
	ok, err := l.store.Has(c)
	return err == nil && ok
}

// Sync makes every block stored so far durable.
func (l *Local) Sync() error { return l.store.Sync() }

// Stats describe the local store.
func (l *Local) Stats() store.Stats { return l.store.Stats() }

// Verify re-hashes every block held here.
func (l *Local) Verify(ctx context.Context, progress func(int64)) (store.VerifyResult, error) {
	return l.store.Verify(ctx, progress)
}

// Block reads one block held here (an identity CID's from the CID).
func (l *Local) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := chunk.IdentityData(c); ok {
		return data, nil
	}
	return l.store.Get(ctx, c)
}

// Reader reads the file under root from the store; blocks missing here
// are not fetched.
func (l *Local) Reader(ctx context.Context, root cid.Cid) (*chunk.Reader, error) {
	return chunk.NewReader(ctx, l.store, root)
}

// Walk visits every block of the DAG under root held here (see
// chunk.Walk); a missing block ends it with store.ErrNotFound.
func (l *Local) Walk(ctx context.Context, root cid.Cid, fn func(cid.Cid, []byte) error) error {
	return chunk.Walk(ctx, l.store, root, fn)
}

// Stat describes the file under root and counts its distinct blocks.
func (l *Local) Stat(ctx context.Context, root cid.Cid) (chunk.Stat, int, error) {
	return statDAG(ctx, l.store, root)
}

func statDAG(ctx context.Context, get chunk.BlockGetter, root cid.Cid) (chunk.Stat, int, error) {
	st, err := chunk.StatDAG(ctx, get, root)
	if err != nil {
		return st, 0, err
	}
	blocks := 0
	err = chunk.WalkCIDs(ctx, get, root, func(cid.Cid) error { blocks++; return nil })
	return st, blocks, err
}

// Pin pins a DAG held here in full (fetching the rest needs a Node).
func (l *Local) Pin(ctx context.Context, root cid.Cid) error {
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	if err := l.complete(ctx, root); err != nil {
		return fmt.Errorf("pin %s: %w", root, err)
	}
	return l.pinHeld(root, "")
}

// pinHeld pins root durably, under name; the caller holds gcMu and the
// DAG.
func (l *Local) pinHeld(root cid.Cid, name string) error {
	if err := l.store.Sync(pinMeta(root, name)); err != nil {
		return fmt.Errorf("pin %s: %w", root, err)
	}
	return nil
}

// Unpin removes a pin; its blocks go at the next GC unless something
// else keeps them.
func (l *Local) Unpin(_ context.Context, root cid.Cid) error {
	ok, err := l.store.HasMeta(pinKey(root))
	if err != nil {
		return fmt.Errorf("unpin %s: %w", root, err)
	}
	if !ok {
		return fmt.Errorf("unpin %s: %w", root, ErrNotPinned)
	}
	if err := l.store.Sync(store.Meta{Key: pinKey(root), Delete: true}); err != nil {
		return fmt.Errorf("unpin %s: %w", root, err)
	}
	return nil
}

// Pins lists the pinned roots.
func (l *Local) Pins(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	err := l.forEachPin(ctx, func(root cid.Cid, _ string) error {
		out = append(out, root)
		return nil
	})
	return out, err
}

// forEachPin calls fn with each pinned root and the name it was pinned
// under.
func (l *Local) forEachPin(ctx context.Context, fn func(root cid.Cid, name string) error) error {
	return l.store.ForEachMeta(ctx, prefixPin, func(key, value []byte) error {
		c, err := cid.Cast(key[len(prefixPin):])
		if err != nil {
			return fmt.Errorf("pins: bad entry: %w", err)
		}
		return fn(c, string(value))
	})
}

// isDuty reports whether another node placed the block here as a replica.
func (l *Local) isDuty(k mh.Multihash) bool {
	ok, err := l.store.HasMeta(dutyKey(k))
	return err == nil && ok
}

// pinnedSet returns the multihashes of every block a pinned DAG reaches
// (as strings). An inner node missing here hides which blocks below it
// a pin covers, so the walk fails rather than let GC guess.
func (l *Local) pinnedSet(ctx context.Context) (map[string]bool, error) {
	pins, err := l.Pins(ctx)
	if err != nil {
		return nil, err
	}
	reach := map[string]bool{}
	for _, root := range pins {
		err := chunk.WalkCIDs(ctx, l.store, root, func(c cid.Cid) error {
			reach[string(c.Hash())] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pinned DAG %s: %w", root, err)
		}
	}
	return reach, nil
}

// GCStats reports what a garbage collection did.
type GCStats struct {
	Kept      int64 // blocks kept
	Removed   int64 // blocks removed
	Reclaimed int64 // bytes of segment files freed by the compaction
}

// GC removes every block that nothing keeps (see sweep.go: no root of the
// cluster's set or of this node's pins reaches it, within its grace, and
// it is no replica pushed here: the sweep frees those, once it knows no
// root claims them), then compacts. Replicas of
// pinned roots leave only through the repair policy, once it has counted
// enough copies elsewhere.
func (l *Local) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	l.gcMu.Lock()
	defer l.gcMu.Unlock()
	reach, err := l.pinnedSet(ctx)
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	var doomed []mh.Multihash
	now := time.Now()
	err = l.store.ForEach(ctx, func(k mh.Multihash) error {
		keep := reach[string(k)]
		if !keep {
			var err error
			if keep, err = l.keptByRefs(k, nil, now, l.grace, false); err != nil {
				return err
			}
		}
		if keep {
			st.Kept++
			return nil
		}
		doomed = append(doomed, k)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	for _, k := range doomed {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := l.store.Delete(cid.NewCidV1(cid.Raw, k), store.Meta{Key: dutyKey(k), Delete: true})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.Removed++
	}
	cs, err := l.store.Compact(ctx, 0)
	st.Reclaimed = cs.Reclaimed
	return st, err
}

// testHookReplicaWritten, set by tests, runs between a replica's write
// and its commit.
var testHookReplicaWritten func()

// writeReplica writes a pushed block with its duty mark, durable on the
// next commitReplicas. The mark is visible at once, so no GC or sweep
// frees the block in between, held before or not.
func (l *Local) writeReplica(c cid.Cid, data []byte) error {
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	if held, err := l.store.Has(c); err == nil && held {
		// Only the mark is new: committed at once, in the index alone.
		// Through PutWith it would be a record in a segment, which needs
		// room that a full node lacks even for a block it has.
		return l.store.Sync(dutyMeta(c.Hash()))
	}
	if err := l.store.PutWith(c, data, dutyMeta(c.Hash())); err != nil {
		return err
	}
	if testHookReplicaWritten != nil {
		testHookReplicaWritten()
	}
	return nil
}

// commitReplicas makes the replicas written so far durable, with their
// marks (a group commit: concurrent callers share it).
func (l *Local) commitReplicas() error {
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	return l.store.Sync()
}

// dropSurplus deletes blocks the repair policy found held by more peers
// than needed, with their duty marks, under the GC lock and against the
// pins as they are now: the walk decided on a snapshot taken before its
// probes, and a block pinned since then stays.
func (l *Local) dropSurplus(ctx context.Context, keys []mh.Multihash) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	l.gcMu.Lock()
	defer l.gcMu.Unlock()
	pinned, err := l.pinnedSet(ctx)
	if err != nil {
		return 0, fmt.Errorf("drop surplus: %w", err)
	}
	dropped := 0
	for _, k := range keys {
		if pinned[string(k)] {
			continue
		}
		err := l.store.Delete(cid.NewCidV1(cid.Raw, k), store.Meta{Key: dutyKey(k), Delete: true})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return dropped, fmt.Errorf("drop surplus %s: %w", k.B58String(), err)
		}
		if err == nil {
			dropped++
		}
	}
	return dropped, nil
}

// replaceBlock puts a good copy of a block in place of a bad record, under
// the GC hold so no GC sees it missing: the bad record is deleted (its
// duty mark kept: the block is still owed) and the good one written and
// synced at once. data has been checked against the hash by the caller.
func (l *Local) replaceBlock(c cid.Cid, data []byte) error {
	l.gcMu.RLock()
	defer l.gcMu.RUnlock()
	if err := l.store.Delete(c); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("replace %s: %w", c, err)
	}
	if err := l.store.PutHashed(c, data); err != nil {
		return fmt.Errorf("replace %s: %w", c, err)
	}
	if err := l.store.Sync(); err != nil {
		return fmt.Errorf("replace %s: %w", c, err)
	}
	return nil
}
