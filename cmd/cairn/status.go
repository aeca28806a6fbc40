package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [CID]",
		Short: "Show the cluster: every node's state and load, and the pin set's totals (or one pin's copies)",
		Long: `Show every node of the cluster as this node last heard of it (each node
publishes its status every Cluster.StatusInterval; one silent for three
intervals is down): its state (up, down or draining), the bytes it holds of
its capacity, its blocks, the chunks it found below R at its last repair
walk and the repairs it has waiting, and when it was last heard from;
then the number of pins in the cluster's set and the bytes they pin.

--json prints {"nodes": [{"id", "state", "used", "capacity", "blocks",
"under_replicated", "repairing", "last_seen"}], "pins": {"count", "bytes"}},
last_seen in RFC 3339; a capacity of 0 means unbounded.

With a CID, show that pin's entry in the set and every block of its DAG
with its live copies and holders (--json: {"pin", "factor", "min_live",
"chunks": [{"cid", "live", "holders"}]}).

Needs the daemon ('cairn daemon').`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return withCIDArg(cmd, args[0], func(b backend, c cid.Cid) error {
					st, err := b.pinStatus(cmd.Context(), c)
					if err != nil {
						return err
					}
					if asJSON {
						return printJSON(cmd.OutOrStdout(), st)
					}
					return printPinStatus(cmd.OutOrStdout(), st)
				})
			}
			return withBackend(cmd, func(b backend) error {
				st, err := b.clusterStatus(cmd.Context())
				if err != nil {
					return fmt.Errorf("cluster status: %w", err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				return printClusterStatus(cmd.OutOrStdout(), st, time.Now())
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printClusterStatus(w io.Writer, st gateway.ClusterStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tUSED/CAPACITY\tBLOCKS\tBELOW R\tREPAIRS\tLAST SEEN")
	for _, n := range st.Nodes {
		capacity := "unbounded"
		if n.Capacity > 0 {
			capacity = humanBytes(n.Capacity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%d\t%d\t%d\t%s\n", n.ID, n.State, humanBytes(n.Used), capacity,
			n.Blocks, n.UnderReplicated, n.Repairing, ago(now, n.LastSeen))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\npins: %d, %s\n", st.Pins.Count, humanBytes(int64(st.Pins.Bytes)))
	return err
}

func printPinStatus(w io.Writer, st gateway.PinStatus) error {
	p := st.Pin
	fmt.Fprintf(w, "CID:      %s\nName:     %s\nSize:     %s (%d bytes)\nPinned:   by %s at %s\n",
		p.CID, orDash(p.Name), humanBytes(int64(p.Bytes)), p.Bytes, orDash(p.By), p.At.Format(time.RFC3339))
	note := ""
	if st.MinLive < st.Factor {
		note = " (under-replicated)"
	}
	fmt.Fprintf(w, "Copies:   %d live of %d wanted%s, over %d blocks\n\n", st.MinLive, st.Factor, note, len(st.Chunks))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK\tLIVE\tHOLDERS")
	for _, ch := range st.Chunks {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", ch.CID, ch.Live, strings.Join(ch.Holders, ","))
	}
	return tw.Flush()
}

// ago is how long before now t was, to the second ("now" under one).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Truncate(time.Second)
	if d < time.Second {
		return "now"
	}
	return d.String() + " ago"
}

// humanBytes is n in binary units, to one decimal.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
