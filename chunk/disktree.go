package chunk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DiskTreeReader is the TreeReader of a tree on disk (see DiskTree).
type DiskTreeReader struct {
	root    string
	hidden  bool
	started bool
	// open is the chain of directories being listed, innermost last.
	open []diskDir
	// file is the body of the current entry, closed at the next Next.
	file *os.File
	// err ends the walk: io.EOF, a failure, or errDiskTreeClosed.
	err error
}

// diskDir is a directory being listed: its entries (dotfiles already
// dropped unless hidden) and how many have been yielded.
type diskDir struct {
	path string // slash-separated, relative to the root
	ents []fs.DirEntry
	next int
}

var errDiskTreeClosed = errors.New("disk tree closed")

// DiskTree walks the tree at root on disk (never following symlinks,
// dotfiles skipped unless hidden), opening each file only while its entry
// is current. Close closes the file still open, if any.
//
// It lists a directory when yielding its entry, so memory is the listings
// of the directories from root to the current entry and one open file; the
// root is walked whatever its name, and a root that is a file or a symlink
// is the one entry.
func DiskTree(root string, hidden bool) *DiskTreeReader {
	return &DiskTreeReader{root: root, hidden: hidden}
}

// Next yields the next entry, depth-first and in name order, closing the
// previous entry's file. After an error or io.EOF, it returns the same.
func (d *DiskTreeReader) Next() (TreeEntry, error) {
	if d.err != nil {
		return TreeEntry{}, d.err
	}
	e, err := d.next()
	if err != nil {
		d.err = err
		d.closeFile()
	}
	return e, err
}

// Close closes the file still open, if any; Next then fails.
func (d *DiskTreeReader) Close() error {
	if d.err == nil || d.err == io.EOF {
		d.err = errDiskTreeClosed
	}
	d.open = nil
	return d.closeFile()
}

func (d *DiskTreeReader) closeFile() error {
	if d.file == nil {
		return nil
	}
	err := d.file.Close()
	d.file = nil
	if err != nil {
		return fmt.Errorf("disk tree: %w", err)
	}
	return nil
}

func (d *DiskTreeReader) next() (TreeEntry, error) {
	// A file opened for reading only: its close error says nothing about
	// the bytes already read, but is reported all the same.
	if err := d.closeFile(); err != nil {
		return TreeEntry{}, err
	}
	if !d.started {
		d.started = true
		info, err := os.Lstat(d.root)
		if err != nil {
			return TreeEntry{}, fmt.Errorf("disk tree: %w", err)
		}
		return d.entry("", info.Mode().Type())
	}
	for len(d.open) > 0 {
		top := &d.open[len(d.open)-1]
		if top.next == len(top.ents) {
			d.open[len(d.open)-1] = diskDir{} // let the listing go
			d.open = d.open[:len(d.open)-1]
			continue
		}
		de := top.ents[top.next]
		top.next++
		// The type comes from the directory entry (lstat semantics): a
		// symlink is seen as one, not as what it points to.
		return d.entry(joinTreePath(top.path, de.Name()), de.Type())
	}
	return TreeEntry{}, io.EOF
}

// entry yields the entry at rel (slash-separated, "" for the root) of the
// given type (fs.FileMode.Type bits, from lstat).
func (d *DiskTreeReader) entry(rel string, typ fs.FileMode) (TreeEntry, error) {
	full := d.root
	if rel != "" {
		full = filepath.Join(d.root, filepath.FromSlash(rel))
	}
	switch {
	case typ.IsDir():
		ents, err := os.ReadDir(full)
		if err != nil {
			return TreeEntry{}, fmt.Errorf("disk tree: %w", err)
		}
		if !d.hidden {
			ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool {
				return strings.HasPrefix(e.Name(), ".")
			})
		}
		d.open = append(d.open, diskDir{path: rel, ents: ents})
		return TreeEntry{Path: rel, Kind: EntryDir}, nil
	case typ.IsRegular():
		f, err := os.Open(full)
		if err != nil {
			return TreeEntry{}, fmt.Errorf("disk tree: %w", err)
		}
		d.file = f
		return TreeEntry{Path: rel, Kind: EntryFile, Body: f}, nil
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return TreeEntry{}, fmt.Errorf("disk tree: %w", err)
		}
		return TreeEntry{Path: rel, Kind: EntrySymlink, Target: target}, nil
	}
	return TreeEntry{}, fmt.Errorf("disk tree: %s: %w (%s)", full, ErrUnsupportedFileType, typ)
}
