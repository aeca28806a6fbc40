package main

import (
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID",
		Short: "Write a file's bytes to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalCID(cmd, args[0], func(l *local, c cid.Cid) error {
				r, err := chunk.NewReader(cmd.Context(), l.store, c)
				if err != nil {
					return err
				}
				_, err = io.CopyBuffer(cmd.OutOrStdout(), r, make([]byte, chunk.ChunkSize))
				return err
			})
		},
	}
}
