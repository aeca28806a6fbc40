package main

import (
	"fmt"
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID[/PATH]",
		Short: "Write a file's bytes to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withResolved(cmd, args[0], func(b backend, c cid.Cid) error {
				// The same answer offline and through the daemon, whose
				// gateway would list a folder or serve a link's target.
				if d, err := b.describe(cmd.Context(), c); err != nil {
					return err
				} else if d.Type != "file" {
					return fmt.Errorf("%s is a %s, not a file (see cairn ls, cairn get)", args[0], d.Type)
				}
				r, _, err := b.open(cmd.Context(), c)
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.CopyBuffer(cmd.OutOrStdout(), r, make([]byte, chunk.ChunkSize))
				return err
			})
		},
	}
}
