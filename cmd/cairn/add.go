package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/spf13/cobra"
)

func newAddCmd() *cobra.Command {
	var onlyHash, recursive, hidden bool
	var hashName string
	cmd := &cobra.Command{
		Use:   "add FILE|-|-r DIR",
		Short: "Add a file (or stdin, or a folder with -r) and print its root CID",
		Long: `Add a file to the local store and print its root CID, the same CID that
'ipfs add --cid-version=1' gives the file. The CID is the last line of
stdout; anything else goes to stderr. The command returns once every block
is on disk (fsynced).

-r adds a folder as 'ipfs add -r --cid-version=1' does: UnixFS directories,
HAMT-sharded past kubo's threshold, symlinks stored as links and never
followed, empty files and directories kept, dotfiles skipped unless
--hidden. Progress (files and bytes) goes to stderr.

--only-hash computes the CID without opening the repo, so it works whether
or not a daemon holds it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := chunk.ParseHashFunc(hashName)
			if err != nil {
				return err
			}
			if recursive && args[0] != "-" {
				return addTree(cmd, args[0], hidden, onlyHash, h)
			}
			in, size, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()

			prog := newProgress(cmd.ErrOrStderr(), size, "adding")
			defer prog.Done()
			opts := chunk.AddOptions{Hash: h, Name: pinName(args[0]), Progress: func(n uint64) { prog.Set(int64(n)) }}

			var root string
			if onlyHash {
				res, err := chunk.Add(cmd.Context(), in, nil, opts)
				if err != nil {
					return err
				}
				root = res.Root.String()
			} else {
				res, err := addThrough(cmd, prog, func(b backend) (gateway.AddResponse, error) {
					return b.add(cmd.Context(), in, opts)
				})
				if err != nil {
					return err
				}
				root = res.Cid
			}
			prog.Done()
			fmt.Fprintln(cmd.OutOrStdout(), root)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&onlyHash, "only-hash", "n", false, "only compute the CID; store nothing")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "add a folder and everything in it")
	cmd.Flags().BoolVarP(&hidden, "hidden", "H", false, "with -r: include files and folders whose names start with a dot")
	cmd.Flags().StringVar(&hashName, "hash", "sha2-256", "hash function: sha2-256 or blake3")
	return cmd
}

// pinName is the name the cluster's pin set records for an added file:
// its base name, none for stdin, and none for a name the set would refuse
// (a label is no reason to fail the add).
func pinName(arg string) string {
	if arg == "-" {
		return ""
	}
	name := filepath.Base(arg)
	if gateway.CheckPinName(name) != nil {
		return ""
	}
	return name
}

// openInput opens FILE, or stdin for "-", and its size when known (-1
// otherwise), refusing what cannot be a file's content.
func openInput(cmd *cobra.Command, name string) (io.ReadCloser, int64, error) {
	if name == "-" {
		return io.NopCloser(cmd.InOrStdin()), -1, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a directory: add it with -r", name)
	}
	if !fi.Mode().IsRegular() {
		return f, -1, nil
	}
	return f, fi.Size(), nil
}

// addTree is `add -r DIR`: the folder through the backend (or, with
// --only-hash, hashed here), its root CID the last line of stdout.
func addTree(cmd *cobra.Command, dir string, hidden, onlyHash bool, h chunk.HashFunc) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%s: %w", dir, chunk.ErrUnsupportedFileType)
	}
	prog := newProgress(cmd.ErrOrStderr(), -1, "adding")
	defer prog.Done()
	opts := chunk.DirOptions{Hash: h, Hidden: hidden, Progress: func(p chunk.DirProgress) {
		prog.Describe(fmt.Sprintf("adding: %d files", p.Files))
		prog.Set(int64(p.Bytes))
	}}
	var root string
	if onlyHash {
		res, err := chunk.AddDir(cmd.Context(), dir, nil, opts)
		if err != nil {
			return err
		}
		root = res.Root.String()
	} else {
		res, err := addThrough(cmd, prog, func(b backend) (gateway.AddResponse, error) {
			return b.addTree(cmd.Context(), dir, hidden, opts)
		})
		if err != nil {
			return err
		}
		root = res.Cid
		prog.Done()
		fmt.Fprintf(cmd.ErrOrStderr(), "added %d files, %d folders, %d bytes\n", res.Files, res.Dirs, res.Size)
	}
	prog.Done()
	fmt.Fprintln(cmd.OutOrStdout(), root)
	return nil
}

// addThrough runs add on the command's backend and closes it, reporting
// a close error (offline, closing the store is part of the add), then
// warns on stderr when fewer copies than the write quorum were made.
func addThrough(cmd *cobra.Command, prog *progress, add func(backend) (gateway.AddResponse, error)) (gateway.AddResponse, error) {
	b, err := openBackend(cmd)
	if err != nil {
		return gateway.AddResponse{}, err
	}
	defer b.Close()
	res, err := add(b)
	if err != nil {
		return res, err
	}
	if err := b.Close(); err != nil {
		return res, err
	}
	if res.Copies < res.WriteQuorum {
		prog.Done()
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: under-replicated: %d durable copies of the %d wanted (not enough peers); repair adds the rest as peers appear\n",
			res.Copies, res.WriteQuorum)
	}
	return res, nil
}
