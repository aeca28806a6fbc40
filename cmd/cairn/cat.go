package main

import (
	"io"

	"github.com/cairnstore/cairn/chunk"
	"github.com/spf13/cobra"
)

func newCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID[/PATH]",
		Short: "Write a file's bytes to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := parsePathArg(args[0]); err != nil {
				return err
			}
			return withBackend(cmd, func(b backend) error {
				c, err := resolveArg(cmd.Context(), b, args[0])
				if err != nil {
					return err
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
