package main

import (
	"fmt"

	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a repo: config, identity key, API token, block store",
		Long: `Create a cairn repo at $CAIRN_PATH (default ~/.cairn). A missing or empty
directory is fine; an existing repo is never overwritten.

A new repo is safe by default: it listens on 127.0.0.1 only and knows no
bootstrap peers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := repoPath(cmd)
			if err != nil {
				return err
			}
			cfg, err := repo.Init(path, repo.InitOptions{})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "initialized cairn repo at %s\n", path)
			fmt.Fprintf(out, "peer identity: %s\n", cfg.Identity.PeerID)
			return nil
		},
	}
}
