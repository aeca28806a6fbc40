package main

import (
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/spf13/cobra"
)

func newCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID",
		Short: "Write a file's bytes to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := parseCIDArg(args[0])
			if err != nil {
				return err
			}
			return withBackend(cmd, func(b backend) error {
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
