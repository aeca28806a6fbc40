package main

import (
	"fmt"
	"net/http"

	"github.com/cairnstore/cairn/gateway"
	"github.com/spf13/cobra"
)

func newDrainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drain",
		Short: "Hand every chunk to the peers that should hold it next, so this node can leave",
		Long: `Copy every chunk this node holds to other peers until each has R live
copies elsewhere, and stop taking copies. When it reports success the node
can be stopped without any chunk dropping below R, and its leaving causes
no repair. Needs the daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := daemonFor(cmd)
			if err != nil {
				return err
			}
			var out gateway.DrainResponse
			if err := d.call(cmd.Context(), http.MethodPost, "/api/v1/drain", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "drained: %d chunks have enough copies elsewhere (%d copies made); this node can leave\n", out.Chunks, out.Pushed)
			return nil
		},
	}
}
