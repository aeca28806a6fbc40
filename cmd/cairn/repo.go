package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRepoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Inspect and check the local block store",
	}
	cmd.AddCommand(newRepoStatCmd(), newRepoVerifyCmd(), newRepoGCCmd())
	return cmd
}

func newRepoStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Blocks, bytes, segment files and garbage awaiting compaction",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := repoPath(cmd)
			if err != nil {
				return err
			}
			b, err := openBackend(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			out, err := b.repoStat(cmd.Context())
			if err != nil {
				return err
			}
			out.Path = path
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "Repo:         %s\nBlocks:       %d\nBytes:        %d\nSegments:     %d\nSegmentBytes: %d\nGarbage:      %d\n",
				out.Path, out.Blocks, out.Bytes, out.Segments, out.SegmentBytes, out.Garbage)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRepoVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every block; list those that fail; exit 1 if any did",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := openBackend(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			total := int64(-1)
			if st, err := b.repoStat(cmd.Context()); err == nil {
				total = st.Blocks
			}
			prog := newProgress(cmd.ErrOrStderr(), total, "verifying")
			res, err := b.verify(cmd.Context(), func(n int64) { prog.Set(n) })
			prog.Done()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, f := range res.Failed {
				fmt.Fprintf(w, "FAILED %s: %s\n", f.Hash, f.Error)
			}
			if len(res.Failed) > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d of %d blocks failed verification", len(res.Failed), res.Checked)}
			}
			fmt.Fprintf(w, "verified %d blocks: all intact\n", res.Checked)
			return nil
		},
	}
}

func newRepoGCCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove blocks no pin reaches, and compact the segment files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withBackend(cmd, func(b backend) error {
				st, err := b.gc(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d blocks, kept %d, reclaimed %d bytes\n", st.Removed, st.Kept, st.Reclaimed)
				return nil
			})
		},
	}
}
