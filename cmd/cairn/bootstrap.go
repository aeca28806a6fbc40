package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

func newBootstrapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Manage the peers the daemon dials at start (config key Bootstrap)",
		Long: `Manage the bootstrap list: the peers the daemon dials when it starts. A new
repo has none, so a node talks to no one until told. Changes take effect at
the next daemon start; 'cairn swarm connect' reaches a peer right away.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the bootstrap peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			for _, a := range cfg.Bootstrap {
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return nil
		},
	}
	add := &cobra.Command{
		Use:   "add MULTIADDR...",
		Short: "Add peers (multiaddrs ending in /p2p/ID)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := parsePeers(args); err != nil {
				return err
			}
			return editBootstrap(cmd, func(list []string) []string {
				for _, a := range args {
					if !slices.Contains(list, a) {
						list = append(list, a)
					}
				}
				return list
			})
		},
	}
	var all bool
	rm := &cobra.Command{
		Use:   "rm MULTIADDR...|--all",
		Short: "Remove peers",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !all && len(args) == 0 {
				return fmt.Errorf("name the peers to remove, or --all")
			}
			return editBootstrap(cmd, func(list []string) []string {
				if all {
					return []string{}
				}
				return slices.DeleteFunc(list, func(a string) bool { return slices.Contains(args, a) })
			})
		},
	}
	rm.Flags().BoolVar(&all, "all", false, "remove every bootstrap peer")
	cmd.AddCommand(list, add, rm)
	return cmd
}

// editBootstrap rewrites the Bootstrap list of the config.
func editBootstrap(cmd *cobra.Command, change func([]string) []string) error {
	path, cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	list, err := json.Marshal(change(slices.Clone(cfg.Bootstrap)))
	if err != nil {
		return err
	}
	_, err = repo.SetConfigValue(path, "Bootstrap", string(list))
	return err
}
