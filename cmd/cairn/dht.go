package main

import (
	"fmt"
	"net/http"

	"github.com/cairnstore/cairn/gateway"
	"github.com/spf13/cobra"
)

func newDHTCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dht",
		Short: "Query the DHT (needs the daemon)",
	}
	var max int
	findprovs := &cobra.Command{
		Use:   "findprovs CID",
		Short: "List peers that provide CID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := parseCIDArg(args[0])
			if err != nil {
				return err
			}
			d, err := daemonFor(cmd)
			if err != nil {
				return err
			}
			var out gateway.ProvidersResponse
			if err := d.call(cmd.Context(), http.MethodGet, fmt.Sprintf("/api/v1/providers/%s?max=%d", c, max), nil, &out); err != nil {
				return err
			}
			for _, p := range out.Providers {
				fmt.Fprintln(cmd.OutOrStdout(), p.ID)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d providers; lookup: %d RPCs, %d hops\n", len(out.Providers), out.RPCs, out.Hops)
			return nil
		},
	}
	findprovs.Flags().IntVarP(&max, "num-providers", "n", 20, "how many providers to find")
	cmd.AddCommand(findprovs)
	return cmd
}
