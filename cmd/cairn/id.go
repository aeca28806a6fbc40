package main

import (
	"net/http"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

func newIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print this node's peer ID and addresses (JSON)",
		Long: `Print the node's peer ID and addresses as JSON, each address a full
multiaddr ending in /p2p/ID. With a daemon running these are the addresses
it really listens on; without one, the configured ones.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := repoPath(cmd)
			if err != nil {
				return err
			}
			c, err := daemonClient(path)
			if err != nil {
				return err
			}
			var out gateway.IDResponse
			if c != nil {
				if err := c.call(cmd.Context(), http.MethodGet, "/api/v1/id", nil, &out); err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			cfg, err := repo.LoadConfig(path)
			if err != nil {
				return err
			}
			out.ID = cfg.Identity.PeerID
			out.Addresses = []string{}
			for _, a := range cfg.Addresses.Swarm {
				out.Addresses = append(out.Addresses, a+"/p2p/"+cfg.Identity.PeerID)
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
}
