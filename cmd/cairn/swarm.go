package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/cairnstore/cairn/gateway"
	"github.com/spf13/cobra"
)

func newSwarmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "swarm",
		Short: "List and make peer connections (needs the daemon)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "peers",
		Short: "List connected peers as MULTIADDR/p2p/ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonFor(cmd)
			if err != nil {
				return err
			}
			var out gateway.PeersResponse
			if err := c.call(cmd.Context(), http.MethodGet, "/api/v1/peers", nil, &out); err != nil {
				return err
			}
			for _, p := range out.Peers {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/p2p/%s\n", p.Addr, p.ID)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "connect MULTIADDR",
		Short: "Connect to a peer at MULTIADDR (ending in /p2p/ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonFor(cmd)
			if err != nil {
				return err
			}
			var out gateway.PeerInfo
			if err := c.call(cmd.Context(), http.MethodPost, "/api/v1/peers/connect?addr="+url.QueryEscape(args[0]), nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connected to %s\n", out.ID)
			return nil
		},
	})
	return cmd
}

// daemonFor returns the daemon of the command's repo, or errNoDaemon.
func daemonFor(cmd *cobra.Command) (*apiClient, error) {
	path, err := repoPath(cmd)
	if err != nil {
		return nil, err
	}
	return requireDaemon(path)
}
