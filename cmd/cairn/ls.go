package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newLsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls CID[/PATH]",
		Short: "List a folder: name, size, CID and type of each entry",
		Long: `List the folder CID[/PATH] names, by name: each entry's CID, size (a
file's bytes, a folder's whole DAG), type (file, directory, symlink) and
name. A file is listed as itself. --json prints {"Entries": [{"name",
"cid", "type", "size", "target"}]}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withResolved(cmd, args[0], func(b backend, c cid.Cid) error {
				ctx := cmd.Context()
				d, err := b.describe(ctx, c)
				if err != nil {
					return err
				}
				entries := []gateway.DirEntry{d}
				if d.Type == "directory" {
					if entries, err = b.list(ctx, c); err != nil {
						return err
					}
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, gateway.LsResponse{Entries: entries})
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, e := range entries {
					name := e.Name
					if e.Type == "directory" && name != "" {
						name += "/"
					}
					if e.Type == "symlink" {
						name += " -> " + e.Target
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", e.CID, e.Size, e.Type, name)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
