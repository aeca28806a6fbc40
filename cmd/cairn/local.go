package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
)

// repoPath is --repo, else $CAIRN_PATH, else ~/.cairn.
func repoPath(cmd *cobra.Command) (string, error) {
	if p, _ := cmd.Flags().GetString("repo"); p != "" {
		return p, nil
	}
	return repo.DefaultPath()
}

// loadConfig reads the config of the command's repo without locking it
// (a running daemon holds the lock).
func loadConfig(cmd *cobra.Command) (string, *repo.Config, error) {
	path, err := repoPath(cmd)
	if err != nil {
		return "", nil, err
	}
	cfg, err := repo.LoadConfig(path)
	return path, cfg, err
}

// local is the repo of a command that works offline, served by the
// same backend the daemon's gateway uses, over node.Local.
type local struct {
	repo *repo.Repo
	l    *node.Local
	b    *nodeapi.Offline
}

// openLocal locks the repo and opens its content.
func openLocal(cmd *cobra.Command) (*local, error) {
	path, err := repoPath(cmd)
	if err != nil {
		return nil, err
	}
	return openLocalAt(path, cmd.ErrOrStderr())
}

// openLocalAt opens the repo at path; recovery notes go to logw.
func openLocalAt(path string, logw io.Writer) (*local, error) {
	r, err := repo.Open(path)
	if err != nil {
		return nil, err
	}
	l, err := node.OpenLocal(r, node.WithLogf(func(format string, args ...any) {
		fmt.Fprintf(logw, format+"\n", args...)
	}))
	if err != nil {
		r.Close()
		return nil, err
	}
	b := &nodeapi.Offline{L: l, WriteQuorum: r.Config().Replication.WriteQuorum, Path: r.Path()}
	return &local{repo: r, l: l, b: b}, nil
}

func (l *local) Close() error {
	err := l.l.Close()
	if rerr := l.repo.Close(); err == nil {
		err = rerr
	}
	return err
}

// parseCIDArg parses a CID given on the command line, accepting a
// /ipfs/ prefix as kubo does.
func parseCIDArg(s string) (cid.Cid, error) {
	c, path, err := parsePathArg(s)
	if err == nil && path != "" {
		return cid.Undef, fmt.Errorf("%s: a CID without a path is wanted here", s)
	}
	return c, err
}

// parsePathArg parses CID[/path] (with an optional /ipfs/ prefix) into
// the CID and the path under it ("" for none).
func parsePathArg(s string) (cid.Cid, string, error) {
	s = strings.TrimPrefix(s, "/ipfs/")
	head, path, _ := strings.Cut(s, "/")
	c, err := chunk.ParseCID(head)
	return c, strings.Trim(path, "/"), err
}

// withResolved runs fn on the command's backend with the CID that arg,
// CID[/PATH], names. A malformed arg fails before the repo is opened.
func withResolved(cmd *cobra.Command, arg string, fn func(b backend, c cid.Cid) error) error {
	if _, _, err := parsePathArg(arg); err != nil {
		return err
	}
	return withBackend(cmd, func(b backend) error {
		c, err := resolveArg(cmd.Context(), b, arg)
		if err != nil {
			return err
		}
		return fn(b, c)
	})
}

// resolveArg is parsePathArg then the path followed through folders.
func resolveArg(ctx context.Context, b backend, s string) (cid.Cid, error) {
	c, path, err := parsePathArg(s)
	if err != nil {
		return cid.Undef, err
	}
	return b.resolve(ctx, c, path)
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	return isatty(file)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
