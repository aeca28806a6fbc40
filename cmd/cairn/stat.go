package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newStatCmd() *cobra.Command {
	var asJSON, replicas bool
	cmd := &cobra.Command{
		Use:   "stat CID[/PATH]",
		Short: "Show a file's or folder's size, block count and type (--replicas: live copies of every block)",
		Long: `Show the size, block count and type (file, directory, symlink) of what
CID[/PATH] names.

--replicas (needs the daemon) lists every block of the file's DAG with its
live replica count and holders; with --json it prints {"min_live": N,
"chunks": [{"cid", "live", "holders"}]}, min_live being the smallest live
count over the file's blocks.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := parsePathArg(args[0]); err != nil {
				return err
			}
			b, err := openBackend(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			c, err := resolveArg(cmd.Context(), b, args[0])
			if err != nil {
				return err
			}
			if replicas {
				return statReplicas(cmd, c, asJSON)
			}
			out, err := b.stat(cmd.Context(), c)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "CID:     %s\nSize:    %d\nBlocks:  %d\nType:    %s\n", out.CID, out.Size, out.Blocks, out.RootType)
			if out.Factor > 0 {
				note := ""
				if out.MinLive < out.Factor {
					note = " (under-replicated)"
				}
				fmt.Fprintf(w, "Copies:  %d live of %d wanted%s\n", out.MinLive, out.Factor, note)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&replicas, "replicas", false, "list every block's live copies and holders (needs the daemon)")
	return cmd
}

func statReplicas(cmd *cobra.Command, c cid.Cid, asJSON bool) error {
	d, err := daemonFor(cmd)
	if err != nil {
		return err
	}
	var out gateway.ReplicasResponse
	if err := d.call(cmd.Context(), http.MethodGet, "/api/v1/replicas/"+c.String(), nil, &out); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "min live copies: %d over %d blocks\n", out.MinLive, len(out.Chunks))
	for _, ch := range out.Chunks {
		fmt.Fprintf(w, "%s  %d  %s\n", ch.CID, ch.Live, strings.Join(ch.Holders, ","))
	}
	return nil
}
