package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
)

// DirOptions tune AddTree and AddDir. The zero value adds as `ipfs add -r
// --cid-version=1` does: sha2-256, dotfiles skipped.
type DirOptions struct {
	Hash HashFunc // default SHA2_256
	// Hidden includes files and directories whose name starts with '.'
	// (kubo's --hidden). The root is added whatever its name.
	Hidden bool
	// Workers hashing a large file's chunks in parallel (AddOptions.Workers).
	Workers int
	// Name is the label the tree's pin gets (a folder's name); chunk
	// itself ignores it, as it does AddOptions.Name.
	Name string
	// Progress, if set, is called from the goroutine calling AddTree as
	// files are added: after each file, and as a large file's chunks are
	// stored.
	Progress func(DirProgress)
}

// DirProgress is how far AddTree got: files finished and file bytes stored
// (those of the file under way included).
type DirProgress struct {
	Files int
	Bytes uint64
}

// DirResult describes an added tree.
type DirResult struct {
	Root  cid.Cid
	Tsize uint64 // bytes of every block of the DAG, as a parent link records
	// Entries added, root included (a tree whose root is a directory
	// counts it in Dirs).
	Files, Dirs, Symlinks int
	Bytes                 uint64 // file bytes
	Blocks                int    // blocks handed to the sink (repeats included)
}

// ErrUnsupportedFileType means the tree holds a device, socket or pipe,
// which UnixFS cannot represent (kubo refuses them too).
var ErrUnsupportedFileType = errors.New("unsupported file type")

// AddDir adds the tree at root as `ipfs add -r --cid-version=1` does, so
// the root CID is kubo's: files as Add cuts them, directories as UnixFS
// directory nodes with their links sorted by name (HAMT-sharded past
// HAMTShardingSize), empty files and directories kept, dotfiles skipped
// unless opts.Hidden, symbolic links stored as UnixFS symlink nodes and
// never followed (root included: a root that is a symlink or a file is
// added as one). Every block goes to sink (nil: compute the CIDs only).
//
// It is AddTree over DiskTree, so a tree streamed from elsewhere (HTTP
// multipart) gets the same CID as the same tree read from disk. Memory: one
// chunk buffer of its own plus what Add holds for the file under way, and
// the entries of the directories on the path from root to the directory
// being read, never file contents.
func AddDir(ctx context.Context, root string, sink BlockSink, opts DirOptions) (DirResult, error) {
	tr := DiskTree(root, opts.Hidden)
	res, err := AddTree(ctx, tr, sink, opts)
	// Closing only the file still open, if any: its read error, had there
	// been one, AddTree reported already.
	tr.Close()
	if err != nil {
		return DirResult{}, fmt.Errorf("add %s: %w", root, err)
	}
	return res, nil
}

// addFile adds a file from body, read to EOF. A file of at most one chunk is its raw leaf,
// as Add makes it; hashing it here saves Add's buffers and goroutines for
// each of the many small files a tree usually holds. Longer files go
// through Add, their head re-read from buf.
func (a *dirAdder) addFile(path string, body io.Reader) (Link, error) {
	name := treePathName(path)
	n, err := io.ReadFull(body, a.buf)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return Link{}, fmt.Errorf("add %s: read: %w", name, err)
	}
	base := a.res.Bytes
	var l Link
	if n <= ChunkSize {
		data := a.buf[:n]
		c, err := NewCID(a.opts.Hash, cid.Raw, data)
		if err != nil {
			return Link{}, err
		}
		if a.w.sink != nil {
			if err := a.w.sink.PutHashed(c, data); err != nil {
				return Link{}, fmt.Errorf("add %s: store chunk: %w", name, err)
			}
		}
		a.res.Blocks++
		l = Link{CID: c, Tsize: uint64(n)}
		a.res.Bytes += uint64(n)
	} else {
		var progress func(uint64)
		if a.opts.Progress != nil {
			progress = func(done uint64) {
				a.opts.Progress(DirProgress{Files: a.res.Files, Bytes: base + done})
			}
		}
		r := io.MultiReader(bytes.NewReader(a.buf[:n]), body)
		res, err := Add(a.ctx, r, a.w.sink, AddOptions{Hash: a.opts.Hash, Workers: a.opts.Workers, Progress: progress})
		if err != nil {
			return Link{}, fmt.Errorf("add %s: %w", name, err)
		}
		a.res.Blocks += res.Blocks
		l = Link{CID: res.Root, Tsize: res.Tsize}
		a.res.Bytes += res.Size
	}
	a.res.Files++
	if a.opts.Progress != nil {
		a.opts.Progress(DirProgress{Files: a.res.Files, Bytes: a.res.Bytes})
	}
	return l, nil
}
