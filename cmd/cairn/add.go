package main

import (
	"fmt"
	"io"
	"os"

	"github.com/cairnstore/cairn/chunk"
	"github.com/spf13/cobra"
)

func newAddCmd() *cobra.Command {
	var onlyHash bool
	var hashName string
	cmd := &cobra.Command{
		Use:   "add FILE|-",
		Short: "Add a file (or stdin) and print its root CID",
		Long: `Add a file to the local store and print its root CID, the same CID that
'ipfs add --cid-version=1' gives the file. The CID is the last line of
stdout; anything else goes to stderr. The command returns once every block
is on disk (fsynced).

--only-hash computes the CID without opening the repo, so it works whether
or not a daemon holds it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := chunk.ParseHashFunc(hashName)
			if err != nil {
				return err
			}
			in, size, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()

			prog := newProgress(cmd.ErrOrStderr(), size, "adding")
			defer prog.Done()
			opts := chunk.AddOptions{Hash: h, Progress: func(n uint64) { prog.Set(int64(n)) }}

			var root string
			if onlyHash {
				res, err := chunk.Add(cmd.Context(), in, nil, opts)
				if err != nil {
					return err
				}
				root = res.Root.String()
			} else {
				b, err := openBackend(cmd)
				if err != nil {
					return err
				}
				defer b.Close()
				res, err := b.add(cmd.Context(), in, opts)
				if err != nil {
					return err
				}
				if err := b.Close(); err != nil {
					return err
				}
				root = res.Cid
				if res.Copies < res.WriteQuorum {
					prog.Done()
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: under-replicated: %d durable copies of the %d wanted (not enough peers); repair adds the rest as peers appear\n",
						res.Copies, res.WriteQuorum)
				}
			}
			prog.Done()
			fmt.Fprintln(cmd.OutOrStdout(), root)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&onlyHash, "only-hash", "n", false, "only compute the CID; store nothing")
	cmd.Flags().StringVar(&hashName, "hash", "sha2-256", "hash function: sha2-256 or blake3")
	return cmd
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
		return nil, 0, fmt.Errorf("%s is a directory: cairn adds files", name)
	}
	if !fi.Mode().IsRegular() {
		return f, -1, nil
	}
	return f, fi.Size(), nil
}
