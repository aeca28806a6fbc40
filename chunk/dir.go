package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
)

// DirOptions tune AddDir. The zero value adds as `ipfs add -r
// --cid-version=1` does: sha2-256, dotfiles skipped.
type DirOptions struct {
	Hash HashFunc // default SHA2_256
	// Hidden includes files and directories whose name starts with '.'
	// (kubo's --hidden). The root is added whatever its name.
	Hidden bool
	// Workers hashing a large file's chunks in parallel (AddOptions.Workers).
	Workers int
	// Progress, if set, is called from the goroutine calling AddDir as
	// files are added: after each file, and as a large file's chunks are
	// stored.
	Progress func(DirProgress)
}

// DirProgress is how far AddDir got: files finished and file bytes stored
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
// Memory: one chunk buffer of its own plus what Add holds for the file under
// way, and the entries of the directories on the path from root to the
// directory being read (each directory's links are held until its node is
// written), never file contents.
func AddDir(ctx context.Context, root string, sink BlockSink, opts DirOptions) (DirResult, error) {
	if opts.Hash == 0 {
		opts.Hash = SHA2_256
	}
	if _, err := opts.Hash.Sum(nil); err != nil {
		return DirResult{}, err
	}
	info, err := os.Lstat(root)
	if err != nil {
		return DirResult{}, fmt.Errorf("add %s: %w", root, err)
	}
	a := &dirAdder{
		ctx:  ctx,
		opts: opts,
		w:    dirWriter{sink: sink, hash: opts.Hash},
		buf:  make([]byte, ChunkSize+1),
	}
	l, err := a.add(root, info.Mode().Type())
	if err != nil {
		return DirResult{}, err
	}
	a.res.Root = l.CID
	a.res.Tsize = l.Tsize
	a.res.Blocks += a.w.blocks
	return a.res, nil
}

type dirAdder struct {
	ctx  context.Context
	opts DirOptions
	w    dirWriter
	// buf holds the head of the file being added: the whole of a file of
	// at most one chunk, which is then its single raw leaf.
	buf []byte
	res DirResult
}

// add adds the entry at path, of the given type (fs.FileMode.Type bits,
// from lstat), and returns the link its parent makes to it (Name unset).
func (a *dirAdder) add(path string, typ fs.FileMode) (Link, error) {
	if err := a.ctx.Err(); err != nil {
		return Link{}, fmt.Errorf("add %s: %w", path, err)
	}
	switch {
	case typ.IsDir():
		return a.addDir(path)
	case typ.IsRegular():
		return a.addFile(path)
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return Link{}, fmt.Errorf("add %s: %w", path, err)
		}
		l, err := a.w.symlink(target)
		if err != nil {
			return Link{}, fmt.Errorf("add symlink %s: %w", path, err)
		}
		a.res.Symlinks++
		return l, nil
	}
	return Link{}, fmt.Errorf("add %s: %w (%s)", path, ErrUnsupportedFileType, typ)
}

func (a *dirAdder) addDir(path string) (Link, error) {
	// os.ReadDir sorts by name; directory() sorts again, byte order, which
	// is the order kubo writes.
	ents, err := os.ReadDir(path)
	if err != nil {
		return Link{}, fmt.Errorf("add %s: %w", path, err)
	}
	links := make([]Link, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !a.opts.Hidden && strings.HasPrefix(name, ".") {
			continue
		}
		// The type comes from the directory entry (lstat semantics):
		// a symlink is seen as one, not as what it points to.
		l, err := a.add(filepath.Join(path, name), e.Type())
		if err != nil {
			return Link{}, err
		}
		l.Name = name
		links = append(links, l)
	}
	l, err := a.w.directory(links)
	if err != nil {
		return Link{}, fmt.Errorf("add directory %s: %w", path, err)
	}
	a.res.Dirs++
	return l, nil
}

// addFile adds a regular file. A file of at most one chunk is its raw leaf,
// as Add makes it; hashing it here saves Add's buffers and goroutines for
// each of the many small files a tree usually holds. Longer files go
// through Add, their head re-read from buf.
func (a *dirAdder) addFile(path string) (Link, error) {
	f, err := os.Open(path)
	if err != nil {
		return Link{}, fmt.Errorf("add %s: %w", path, err)
	}
	defer f.Close()
	n, err := io.ReadFull(f, a.buf)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return Link{}, fmt.Errorf("add %s: read: %w", path, err)
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
				return Link{}, fmt.Errorf("add %s: store chunk: %w", path, err)
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
		r := io.MultiReader(bytes.NewReader(a.buf[:n]), f)
		res, err := Add(a.ctx, r, a.w.sink, AddOptions{Hash: a.opts.Hash, Workers: a.opts.Workers, Progress: progress})
		if err != nil {
			return Link{}, fmt.Errorf("add %s: %w", path, err)
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
