// Package nodetest builds real cairn nodes for tests, benchmarks and
// simulations: a repo initialised in a directory, node.Open over it, the
// node on loopback TCP (or a host given with node.WithHost), and the
// repo closed with the node. It replaces the setups each caller used to
// assemble by hand.
package nodetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/repo"
	ma "github.com/multiformats/go-multiaddr"
)

// Loopback is the listen address nodes get unless told otherwise: a free
// TCP port on 127.0.0.1.
var Loopback = ma.StringCast("/ip4/127.0.0.1/tcp/0")

// Open initialises a repo at dir (unless one is there) and opens its
// node, listening on Loopback, with opts applied after that. The node
// owns the repo: Close releases both.
func Open(dir string, opts ...node.Option) (*node.Node, error) {
	if _, err := os.Stat(filepath.Join(dir, "config")); errors.Is(err, os.ErrNotExist) {
		if _, err := repo.Init(dir, repo.InitOptions{}); err != nil {
			return nil, fmt.Errorf("nodetest: init repo: %w", err)
		}
	}
	r, err := repo.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("nodetest: open repo: %w", err)
	}
	all := append([]node.Option{node.WithListen(Loopback)}, opts...)
	n, err := node.Open(r, append(all, node.OwnRepo())...)
	if err != nil {
		r.Close()
		return nil, err
	}
	return n, nil
}

// Start opens a node in a fresh temporary directory, starts it, and
// closes it when the test ends.
func Start(t testing.TB, opts ...node.Option) *node.Node {
	t.Helper()
	return StartAt(t, t.TempDir(), opts...)
}

// StartAt is Start with the repo at dir (kept across restarts).
func StartAt(t testing.TB, dir string, opts ...node.Option) *node.Node {
	t.Helper()
	n, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}
