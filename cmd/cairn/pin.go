package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newPinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "The cluster's pins: the files every node keeps R copies of",
		Long: `Pins belong to the cluster, not to one node: every node holds a replica of
one pin set (a CRDT spread over gossipsub), and each keeps the blocks of
the pinned DAGs it is among the closest holders of, so that each block
has R live copies. Content added through the daemon is pinned in the set
under its file name.

'pin add' pins a DAG from any node, fetching what this node is missing.
'pin rm' unpins it from any node, for the whole network: once
Cluster.UnpinGrace has passed (1h by default) its blocks are freed on
every node that no other pin needs them on.

Every pin command needs the daemon ('cairn daemon'): the set lives in the
running nodes.`,
	}
	cmd.AddCommand(newPinAddCmd(), newPinRmCmd(), newPinLsCmd())
	return cmd
}

// withCIDArg runs fn on the command's backend with its one CID argument,
// which is checked before the repo is opened.
func withCIDArg(cmd *cobra.Command, arg string, fn func(b backend, c cid.Cid) error) error {
	c, err := parseCIDArg(arg)
	if err != nil {
		return err
	}
	return withBackend(cmd, func(b backend) error { return fn(b, c) })
}

func newPinAddCmd() *cobra.Command {
	var req gateway.PinRequest
	cmd := &cobra.Command{
		Use:   "add CID",
		Short: "Pin a DAG in the cluster's set (fetching what is missing)",
		Long: `Pin the DAG under CID in the cluster's pin set, fetching what this node is
missing first, and print how many nodes hold the entry (the write quorum,
or fewer when the cluster has fewer nodes).

--name labels the pin (names need not be unique); --replicas asks for R
copies of this DAG instead of the cluster's Replication.Factor.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := gateway.CheckPinName(req.Name); err != nil {
				return err
			}
			if req.Replicas < 0 || req.Replicas > gateway.MaxPinReplicas {
				return fmt.Errorf("--replicas %d: want 0 (the cluster's R) to %d", req.Replicas, gateway.MaxPinReplicas)
			}
			return withCIDArg(cmd, args[0], func(b backend, c cid.Cid) error {
				res, err := b.pin(cmd.Context(), c, req)
				if err != nil {
					return fmt.Errorf("pin %s: %w", c, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pinned %s (held by %d %s)\n", c, res.Copies, plural(res.Copies, "node", "nodes"))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "a name for the pin")
	cmd.Flags().IntVar(&req.Replicas, "replicas", 0, "copies wanted: the cluster's Replication.Factor (0 says the same); no other count is supported yet")
	return cmd
}

func newPinRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm CID",
		Short: "Unpin a DAG from the whole cluster (its blocks go after Cluster.UnpinGrace)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCIDArg(cmd, args[0], func(b backend, c cid.Cid) error {
				// The daemon's error names the CID already.
				if err := b.unpin(cmd.Context(), c); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unpinned %s\n", c)
				return nil
			})
		},
	}
}

func newPinLsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the cluster's pins: CID, name, size, pinned by, when",
		Long: `List the cluster's pin set, in CID order, as the daemon reads it: each
pin's CID, name, size, the peer that pinned it and when. --json prints an
array of {"cid", "name", "replicas", "by", "at", "bytes"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withBackend(cmd, func(b backend) error {
				pp := newPinPrinter(cmd.OutOrStdout(), asJSON)
				if err := b.pins(cmd.Context(), pp.add); err != nil {
					pp.w.Flush()
					return fmt.Errorf("list pins: %w", err)
				}
				return pp.end()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// pinPrinter prints pins as they come, so that a listing of 100,000 pins
// starts at once and is never held whole: a JSON array, element by
// element as printJSON would indent the array, or a table whose columns
// are aligned a block of rows at a time.
type pinPrinter struct {
	w  *bufio.Writer
	tw *tabwriter.Writer // nil for JSON
	n  int
}

// pinTableBlock is how many rows of the table are aligned together.
const pinTableBlock = 1024

func newPinPrinter(w io.Writer, asJSON bool) *pinPrinter {
	pp := &pinPrinter{w: bufio.NewWriterSize(w, 64<<10)}
	if !asJSON {
		pp.tw = tabwriter.NewWriter(pp.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(pp.tw, "CID\tNAME\tSIZE\tBY\tWHEN")
	}
	return pp
}

func (pp *pinPrinter) add(p gateway.PinInfo) error {
	pp.n++
	if pp.tw != nil {
		fmt.Fprintf(pp.tw, "%s\t%s\t%s\t%s\t%s\n", p.CID, orDash(p.Name), humanBytes(int64(p.Bytes)),
			orDash(p.By), p.At.Local().Format(time.DateTime))
		if pp.n%pinTableBlock == 0 {
			return pp.tw.Flush()
		}
		return nil
	}
	b, err := json.MarshalIndent(p, "  ", "  ")
	if err != nil {
		return err
	}
	if pp.n == 1 {
		pp.w.WriteString("[\n  ")
	} else {
		pp.w.WriteString(",\n  ")
	}
	_, err = pp.w.Write(b)
	return err
}

func (pp *pinPrinter) end() error {
	switch {
	case pp.tw != nil:
		pp.tw.Flush()
	case pp.n == 0:
		pp.w.WriteString("[]\n") // [] rather than null
	default:
		pp.w.WriteString("\n]\n")
	}
	return pp.w.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
