package main

import (
	"fmt"

	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cairn's version and the repo format it uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "cairn %s (repo format %d)\n", version, repo.Version)
			return nil
		},
	}
}
