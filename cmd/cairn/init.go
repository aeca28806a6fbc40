package main

import (
	"fmt"

	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

func newInitCmd() *cobra.Command {
	var swarmKey bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repo: config, identity key, API token, block store",
		Long: `Create a cairn repo at $CAIRN_PATH (default ~/.cairn). A missing or empty
directory is fine; an existing repo is never overwritten.

A new repo is safe by default: it listens on 127.0.0.1 only and knows no
bootstrap peers. --swarm-key makes a private swarm: only nodes holding
the same swarm.key can connect (over TCP; QUIC is off for them).`,
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
			if swarmKey {
				if err := repo.GenerateSwarmKey(path); err != nil {
					return err
				}
				fmt.Fprintf(out, "private swarm key: %s (copy it to every node of the swarm)\n", repo.SwarmKeyPath(path))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&swarmKey, "swarm-key", false, "also generate a private swarm key (swarm.key)")
	return cmd
}
