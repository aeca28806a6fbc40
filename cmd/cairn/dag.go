package main

import (
	"fmt"
	"os"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newDagCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dag",
		Short: "Import and export DAGs as CAR files",
	}
	cmd.AddCommand(newDagImportCmd(), newDagExportCmd())
	return cmd
}

func newDagImportCmd() *cobra.Command {
	var pinRoots bool
	cmd := &cobra.Command{
		Use:   "import FILE.car...",
		Short: "Store the blocks of CAR files (v1 or v2) and pin their roots",
		Long: `Store every block of each CAR file, each verified against its CID first, and
pin the roots whose DAG is then complete here. A block that does not match
its CID, an unsupported codec or hash, a block over 1 MiB or a malformed
CAR rejects that file's import, naming what is wrong, and pins nothing of
it. A root whose DAG the CAR leaves incomplete is imported but not pinned,
with a warning naming it; the exit status stays 0.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBackend(cmd, func(b backend) error {
				for _, name := range args {
					f, err := os.Open(name)
					if err != nil {
						return err
					}
					res, err := b.importCAR(cmd.Context(), f, pinRoots)
					f.Close()
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: imported %d blocks (%d bytes)\n", name, res.Blocks, res.Bytes)
					for _, r := range res.Roots {
						switch {
						case r.Pinned:
							fmt.Fprintf(cmd.OutOrStdout(), "pinned root %s\n", r.CID)
						case r.Incomplete != "":
							fmt.Fprintf(cmd.ErrOrStderr(), "warning: root %s imported but not pinned: its DAG is incomplete here (%s)\n", r.CID, r.Incomplete)
						default:
							fmt.Fprintf(cmd.OutOrStdout(), "imported root %s\n", r.CID)
						}
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&pinRoots, "pin-roots", true, "pin the roots whose DAG is complete")
	return cmd
}

func newDagExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export CID[/PATH]",
		Short: "Write the DAG under CID to stdout as a CARv1",
		Long: `Write the DAG under CID to stdout as a CARv1: the root first, then every
block once, parents before children in link order, so the same DAG always
gives the same bytes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withResolved(cmd, args[0], func(b backend, c cid.Cid) error {
				return b.exportCAR(cmd.Context(), c, cmd.OutOrStdout())
			})
		},
	}
}
