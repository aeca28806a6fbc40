package main

import (
	"fmt"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

type statOutput struct {
	CID      string `json:"cid"`
	Size     uint64 `json:"size"`
	Blocks   int    `json:"blocks"`
	RootType string `json:"type"`
}

func newStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat CID",
		Short: "Show a file's size, block count and root type",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalCID(cmd, args[0], func(l *local, c cid.Cid) error {
				st, err := chunk.StatDAG(cmd.Context(), l.store, c)
				if err != nil {
					return err
				}
				blocks := 0
				if err := chunk.WalkCIDs(cmd.Context(), l.store, c, func(cid.Cid) error { blocks++; return nil }); err != nil {
					return err
				}
				out := statOutput{CID: c.String(), Size: st.Size, Blocks: blocks, RootType: st.RootType}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, out)
				}
				fmt.Fprintf(w, "CID:     %s\nSize:    %d\nBlocks:  %d\nType:    %s\n", out.CID, out.Size, out.Blocks, out.RootType)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
