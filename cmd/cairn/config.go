package main

import (
	"fmt"

	"github.com/cairnstore/cairn/node/repo"
	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config KEY [VALUE]",
		Short: "Read or set a config key (dotted, e.g. Storage.Max)",
		Long: `Read or set one key of the repo's JSON config, named with dots as in kubo:

  cairn config Storage.Max            print the value
  cairn config Storage.Max 100GB      set it
  cairn config Addresses.Swarm '["/ip4/127.0.0.1/tcp/4001"]'
  cairn config show                   print the whole config

Sizes take decimal units (100GB = 10^11 bytes) or binary ones (100GiB =
100 * 2^30 bytes), or plain bytes. Durations are Go duration strings (2s,
5m). Unknown keys and malformed values are refused and change nothing.
A running daemon reads its config at start.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				path, err := repoPath(cmd)
				if err != nil {
					return err
				}
				_, err = repo.SetConfigValue(path, args[0], args[1])
				return err
			}
			_, cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			v, err := cfg.Get(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the whole config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), cfg)
		},
	})
	return cmd
}
