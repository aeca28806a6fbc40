package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat CID",
		Short: "Show a file's size, block count and root type",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := parseCIDArg(args[0])
			if err != nil {
				return err
			}
			b, err := openBackend(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			out, err := b.stat(cmd.Context(), c)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "CID:     %s\nSize:    %d\nBlocks:  %d\nType:    %s\n", out.CID, out.Size, out.Blocks, out.RootType)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
