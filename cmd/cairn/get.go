package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cairnstore/cairn/chunk"
	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get CID [-o PATH]",
		Short: "Write a file to PATH (default: the CID), with progress",
		Long: `Write a file to PATH. The bytes go to a temporary file beside PATH that is
renamed into place only once the whole file is written and synced, so PATH
never holds a partial file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := parseCIDArg(args[0])
			if err != nil {
				return err
			}
			if output == "" {
				output = c.String()
			}
			b, err := openBackend(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			r, size, err := b.open(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer r.Close()
			prog := newProgress(cmd.ErrOrStderr(), int64(size), "getting")
			defer prog.Done()
			if err := writeFileAtomic(output, r, prog); err != nil {
				return err
			}
			prog.Done()
			fmt.Fprintf(cmd.ErrOrStderr(), "saved %s to %s (%d bytes)\n", c, output, size)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "where to write the file")
	return cmd
}

func writeFileAtomic(path string, r io.Reader, prog *progress) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".cairn-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	buf := make([]byte, chunk.ChunkSize)
	var done int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := tmp.Write(buf[:n]); err != nil {
				tmp.Close()
				return err
			}
			done += int64(n)
			prog.Set(done)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			tmp.Close()
			return rerr
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
