package gateway

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// Backend is everything the gateway serves, in the plain types HTTP needs
// (CIDs, sizes, peer IDs and addresses as strings). The daemon's node
// implements it, and so does a repo opened offline (cmd wires them in),
// so the gateway and the CLI have one path for each operation. Every
// read, whatever its form, goes through the backend's healing path: a
// block that has rotted on disk is fetched again before it is served.
//
// Errors the gateway maps to a status wrap the sentinels below or
// chunk's (ErrNotFile, ErrUnsupportedCodec, ErrBadDAG, ...); anything
// else is a 5xx.
type Backend interface {
	// Has reports whether the block is held here, so reading it needs
	// no fetch.
	Has(c cid.Cid) bool
	// Open returns a reader over the file under c whose bytes are served
	// as their blocks arrive.
	Open(ctx context.Context, c cid.Cid, o ReadOptions) (File, error)
	// Block returns one block's bytes.
	Block(ctx context.Context, c cid.Cid, o ReadOptions) ([]byte, error)
	// Walk visits every block of the DAG under c once, parents before
	// children in link order.
	Walk(ctx context.Context, c cid.Cid, o ReadOptions, fn func(cid.Cid, []byte) error) error
	// Resolve follows path (slash-separated, unescaped names; "" is c
	// itself) from c through directories, fetching what it needs; a
	// missing name wraps chunk.ErrNoSuchEntry, a path through a file
	// chunk.ErrNotDir.
	Resolve(ctx context.Context, c cid.Cid, path string, o ReadOptions) (cid.Cid, error)
	// Describe tells what c is from its root block alone.
	Describe(ctx context.Context, c cid.Cid, o ReadOptions) (DirEntry, error)
	// List lists the directory c, sorted by name, each entry described
	// (or the first o.Describe of them).
	List(ctx context.Context, c cid.Cid, o ReadOptions) ([]DirEntry, error)
	// Stat describes the file under c.
	Stat(ctx context.Context, c cid.Cid, o ReadOptions) (StatResponse, error)
	// Replicas lists every block of the DAG under c with its live holders.
	Replicas(ctx context.Context, c cid.Cid, o ReadOptions) (ReplicasResponse, error)

	// Add stores a file, durably, on as many nodes as the write quorum
	// asks, and pins it.
	Add(ctx context.Context, r io.Reader, opts chunk.AddOptions) (AddResponse, error)
	// AddTree is Add for a tree of files, directories and symlinks.
	AddTree(ctx context.Context, tr chunk.TreeReader, opts chunk.DirOptions) (AddResponse, error)
	// ImportCAR stores a CAR's blocks, each verified, and pins the roots
	// whose DAG is complete (if pinRoots).
	ImportCAR(ctx context.Context, r io.Reader, pinRoots bool) (ImportResponse, error)

	// Pins are the cluster's (its shared pin set), not one node's: a
	// repo opened offline answers the calls below with ErrOffline.

	// Pin fetches what is missing of the DAG under c, pins it and puts
	// it in the cluster's pin set; Copies is how many nodes hold the
	// entry when it returns. A name or replica count the set refuses
	// wraps ErrInvalid.
	Pin(ctx context.Context, c cid.Cid, req PinRequest, o ReadOptions) (PinResult, error)
	// Unpin takes c out of the cluster's set, from whichever node: its
	// blocks are freed everywhere once the unpin grace is over. A CID
	// that is not pinned wraps ErrNotPinned.
	Unpin(ctx context.Context, c cid.Cid) error
	// Pins calls fn with every pin of the cluster's set, in CID order, as
	// the set is read (100,000 pins are not gathered first).
	Pins(ctx context.Context, fn func(PinInfo) error) error
	// ClusterStatus is every node this one has heard of, and the set's
	// totals.
	ClusterStatus(ctx context.Context) (ClusterStatus, error)
	// PinStatus is c's entry in the set (ErrNotPinned if it has none)
	// with the live copies and holders of every block of its DAG.
	PinStatus(ctx context.Context, c cid.Cid, o ReadOptions) (PinStatus, error)

	RepoStat(ctx context.Context) (RepoStatResponse, error)
	Verify(ctx context.Context, progress func(checked int64)) (VerifyResponse, error)
	GC(ctx context.Context) (GCResponse, error)
	Drain(ctx context.Context) (DrainResponse, error)

	Identity() IDResponse
	Peers() []PeerInfo
	// Connect dials a peer by its multiaddr, which ends in /p2p/ID.
	Connect(ctx context.Context, addr string) (PeerInfo, error)
	Providers(ctx context.Context, c cid.Cid, max int) (ProvidersResponse, error)

	// Metrics is read at every scrape of /metrics.
	Metrics() Metrics
}

// DirEntry describes a file, directory or symlink: as an entry of a
// directory (Name set), or on its own.
type DirEntry struct {
	Name string `json:"name,omitempty"`
	CID  string `json:"cid"`
	// Type is "file", "directory" or "symlink" (a raw block is a file).
	Type string `json:"type"`
	// Size is a file's bytes; for a directory, the bytes of its whole DAG.
	Size   uint64 `json:"size"`
	Target string `json:"target,omitempty"` // a symlink's
}

// ReadOptions tune a read that may have to fetch.
type ReadOptions struct {
	// StallTimeout ends a fetch when no block has arrived for this long.
	StallTimeout time.Duration
	// Describe, above 0, has List describe only its first Describe
	// entries: describing one reads (or fetches) its root block, and a
	// folder of 100,000 entries shown a page at a time need not read
	// them all. The others carry their name, CID and the size their link
	// records, and a type only where the CID tells it (a raw block is a
	// file). 0 describes every entry.
	Describe int
}

// File is a file being read: seekable (ranges), with its size known up
// front.
type File interface {
	io.ReadSeekCloser
	Size() uint64
}

// Metrics are the backend's figures that /metrics exports.
type Metrics struct {
	StoreBlocks, StoreBytes, StoreGarbage int64
	Peers                                 int
	RepairWalks, RepairPushes             int64
	ReplicationBytes                      int64
	UnderReplicated, RepairQueue          int64
	ScrubErrors                           int64
	PassedThrough                         int64 // blocks served unstored, the store having no room
	PushBatches, BatchedPushes            int64 // batched push streams sent, and the blocks they carried
	DHTLookups, DHTRPCs, DHTHops          int64
}

// Sentinel errors a backend wraps so the gateway can answer with the
// right status.
var (
	// ErrNoProvider: no peer was found that has the content (404).
	ErrNoProvider = errors.New("no provider has the content")
	// ErrStalled: providers were found but nothing arrived in time (504).
	ErrStalled = errors.New("providers found but nothing arrived in time")
	// ErrNotPinned: an unpin of a CID that is not pinned (404).
	ErrNotPinned = errors.New("not pinned")
	// ErrFull: the store has no room (507).
	ErrFull = errors.New("no room in the store")
	// ErrInvalid: the request names something malformed (400).
	ErrInvalid = errors.New("invalid request")
	// ErrOffline: the operation needs the network, and the backend is a
	// repo opened without a daemon (503).
	ErrOffline = errors.New("this needs a running daemon (`cairn daemon`)")
)
