package main

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

func newRepoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Inspect and check the local block store",
	}
	cmd.AddCommand(newRepoStatCmd(), newRepoVerifyCmd())
	return cmd
}

type repoStatOutput struct {
	Path         string `json:"path"`
	Blocks       int64  `json:"blocks"`
	Bytes        int64  `json:"bytes"`
	Segments     int    `json:"segments"`
	SegmentBytes int64  `json:"segment_bytes"`
	Garbage      int64  `json:"garbage"`
}

func newRepoStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Blocks, bytes, segment files and garbage awaiting compaction",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openLocal(cmd)
			if err != nil {
				return err
			}
			defer l.Close()
			st := l.store.Stats()
			out := repoStatOutput{Path: l.repo.Path(), Blocks: st.Blocks, Bytes: st.Bytes,
				Segments: st.Segments, SegmentBytes: st.SegmentBytes, Garbage: st.Garbage}
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
			l, err := openLocal(cmd)
			if err != nil {
				return err
			}
			defer l.Close()
			total := l.store.Stats().Blocks
			prog := newProgress(cmd.ErrOrStderr(), total, "verifying")
			res, err := l.store.Verify(cmd.Context(), func(n int64) { prog.Set(n) })
			prog.Done()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, f := range res.Failed {
				fmt.Fprintf(w, "FAILED %s (multihash %s): %v\n", cid.NewCidV1(cid.Raw, f.Hash), f.Hash.B58String(), f.Err)
			}
			if len(res.Failed) > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d of %d blocks failed verification", len(res.Failed), res.Checked)}
			}
			fmt.Fprintf(w, "verified %d blocks: all intact\n", res.Checked)
			return nil
		},
	}
}
