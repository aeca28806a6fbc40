package main

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newPinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "Keep files on this node: pinned DAGs are never garbage-collected",
		Long: `Pinned files stay on this node whatever GC does ('cairn repo gc'). Content
added here is pinned here. Pinning a file this node does not fully hold
fetches the rest (with the daemon).`,
	}
	withCID := func(use, short string, fn func(b backend, cmd *cobra.Command, c cid.Cid) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := parseCIDArg(args[0])
				if err != nil {
					return err
				}
				return withBackend(cmd, func(b backend) error { return fn(b, cmd, c) })
			},
		}
	}
	cmd.AddCommand(
		withCID("add CID", "Pin a file (fetching what is missing)", func(b backend, cmd *cobra.Command, c cid.Cid) error {
			if err := b.pin(cmd.Context(), c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pinned %s\n", c)
			return nil
		}),
		withCID("rm CID", "Unpin a file (GC may then remove it)", func(b backend, cmd *cobra.Command, c cid.Cid) error {
			if err := b.unpin(cmd.Context(), c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unpinned %s\n", c)
			return nil
		}),
		&cobra.Command{
			Use:   "ls",
			Short: "List pinned roots",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withBackend(cmd, func(b backend) error {
					pins, err := b.pins(cmd.Context())
					for _, p := range pins {
						fmt.Fprintln(cmd.OutOrStdout(), p)
					}
					return err
				})
			},
		},
	)
	return cmd
}
