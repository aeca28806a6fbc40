package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

// maxTreeDepth bounds the folders get descends, as the DAG reader bounds
// its own depth: a hostile DAG cannot make it recurse without end.
const maxTreeDepth = 256

// maxTreeEntries bounds the entries get writes. A folder that links the
// same subfolder twice at each of its levels is a few blocks whose tree
// has 2^levels entries: without a bound, get would fill the disk.
const maxTreeEntries = 10_000_000

// getTree writes the folder c to output through a temporary folder
// beside it, renamed into place once everything in it is written and
// synced.
func getTree(cmd *cobra.Command, b backend, c cid.Cid, output string) error {
	prog := newProgress(cmd.ErrOrStderr(), -1, "getting")
	defer prog.Done()
	t := &treeWriter{ctx: cmd.Context(), b: b, prog: prog, maxEntries: maxTreeEntries}
	err := placeAtomic(output, true, func(tmp string) error {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return err
		}
		return t.dir(c, tmp, 0)
	})
	if err != nil {
		return err
	}
	prog.Done()
	fmt.Fprintf(cmd.ErrOrStderr(), "saved %s to %s (%d files, %d bytes)\n", c, output, t.files, t.bytes)
	return nil
}

type treeWriter struct {
	ctx          context.Context
	b            backend
	prog         *progress
	files, bytes int64
	entries      int
	maxEntries   int
}

// dir writes the entries of folder c into the folder at path, which this
// writer made and nothing else writes to.
func (t *treeWriter) dir(c cid.Cid, path string, depth int) error {
	if depth >= maxTreeDepth {
		return fmt.Errorf("%s: folders nested deeper than %d", c, maxTreeDepth)
	}
	entries, err := t.b.list(t.ctx, c)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if t.entries++; t.entries > t.maxEntries {
			return fmt.Errorf("folder %s: more than %d entries in all: not writing it (a folder that links the same subfolder over and over?)", c, t.maxEntries)
		}
		if err := checkEntryName(e.Name); err != nil {
			return fmt.Errorf("folder %s: %w", c, err)
		}
		ec, err := cid.Decode(e.CID)
		if err != nil {
			return fmt.Errorf("folder %s: entry %q: %w", c, e.Name, err)
		}
		// The name is one plain component, so the entry lands in path and
		// nowhere else; O_EXCL and Mkdir never follow what is there.
		target := filepath.Join(path, e.Name)
		switch e.Type {
		case "directory":
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			if err := t.dir(ec, target, depth+1); err != nil {
				return err
			}
		case "symlink":
			if err := os.Symlink(e.Target, target); err != nil {
				return err
			}
		default:
			if err := t.file(ec, target); err != nil {
				return err
			}
		}
	}
	return syncPath(path)
}

func (t *treeWriter) file(c cid.Cid, target string) error {
	r, _, err := t.b.open(t.ctx, c)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o644)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(f, r, make([]byte, chunk.ChunkSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	t.files++
	t.bytes += n
	t.prog.Describe(fmt.Sprintf("getting: %d files", t.files))
	t.prog.Set(t.bytes)
	return nil
}

// checkEntryName refuses names that would leave the folder being written
// or could not be one file name: kubo never writes them, a hostile DAG
// might.
func checkEntryName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("entry named %q refused", name)
	case strings.ContainsAny(name, "/\x00"), strings.Contains(name, `\`) && filepath.Separator == '\\':
		return fmt.Errorf("entry named %q refused: a name may not hold '/' or NUL", name)
	}
	return nil
}

// placeAtomic makes something at output through a temporary name beside
// it (make creates it at the name it is given), then renames it into
// place. A folder never replaces anything at output.
func placeAtomic(output string, folder bool, make func(tmp string) error) error {
	tmp, err := os.MkdirTemp(filepath.Dir(output), "."+filepath.Base(output)+".cairn-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // what is left of a failed attempt, or nothing
	inner := filepath.Join(tmp, "x")
	if err := make(inner); err != nil {
		return err
	}
	rename := os.Rename
	if folder {
		rename = renameNoReplace
	}
	if err := rename(inner, output); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: not replacing it with a folder", output)
		}
		return fmt.Errorf("place %s: %w", output, err)
	}
	return syncPath(filepath.Dir(output))
}

// syncPath fsyncs a folder, so the names made in it are durable.
func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
