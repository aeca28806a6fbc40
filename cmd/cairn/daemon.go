package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/repo"
	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
)

func newDaemonCmd() *cobra.Command {
	var listen, bootstrap []string
	var gatewayAddr string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: join the DHT, serve blocks, serve HTTP",
		Long: `Run the node: the libp2p swarm, the DHT, the block exchange, and one HTTP
listener for the gateway (/ipfs/), the API (/api/v1/), /metrics and
/healthz. Flags override the config for this run; port 0 picks a free port.
Once both listen, the base URL is written to $CAIRN_PATH/api, and other
cairn commands go through the daemon. SIGINT or SIGTERM stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd, listen, bootstrap, gatewayAddr)
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "swarm listen multiaddr (repeatable; default Addresses.Swarm)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable; default Bootstrap)")
	cmd.Flags().StringVar(&gatewayAddr, "gateway", "", "HTTP listen address HOST:PORT (default Addresses.Gateway)")
	return cmd
}

func runDaemon(cmd *cobra.Command, listenFlags, bootstrapFlags []string, gatewayAddr string) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	path, err := repoPath(cmd)
	if err != nil {
		return err
	}
	l, err := openLocalAt(path, errw)
	if err != nil {
		return err
	}
	cfg := l.repo.Config()
	storeOwned := true // until the node owns it
	defer func() {
		if storeOwned {
			l.store.Close()
		}
		l.repo.Close()
	}()

	listen, err := parseAddrs(orDefault(listenFlags, cfg.Addresses.Swarm))
	if err != nil {
		return fmt.Errorf("listen address: %w", err)
	}
	boot, err := parsePeers(orDefault(bootstrapFlags, cfg.Bootstrap))
	if err != nil {
		return fmt.Errorf("bootstrap peer: %w", err)
	}
	if gatewayAddr == "" {
		gatewayAddr = cfg.Addresses.Gateway
	}
	priv, err := l.repo.PrivKey()
	if err != nil {
		return err
	}
	psk, err := repo.LoadSwarmKey(path)
	if err != nil {
		return err
	}
	token, err := l.repo.APIToken()
	if err != nil {
		return err
	}
	dstore, err := leveldb.NewDatastore(l.repo.DatastoreDir(), nil)
	if err != nil {
		return fmt.Errorf("open datastore: %w", err)
	}
	defer dstore.Close()

	n, err := node.New(node.Config{
		Identity:      priv,
		Listen:        listen,
		Bootstrap:     boot,
		SwarmKey:      psk,
		Store:         l.store,
		Datastore:     dstore,
		ScrubInterval: time.Duration(cfg.Storage.ScrubInterval),
		Replication: node.ReplicationConfig{
			Factor:      cfg.Replication.Factor,
			WriteQuorum: cfg.Replication.WriteQuorum,
			GraceDelay:  time.Duration(cfg.Replication.GraceDelay),
			Interval:    time.Duration(cfg.Replication.Interval),
			Bandwidth:   int64(min(uint64(cfg.Replication.Bandwidth), math.MaxInt64)),
		},
		ScrubRate: int64(min(uint64(cfg.Storage.ScrubRate), math.MaxInt64)),
		Logf:      func(f string, a ...any) { fmt.Fprintf(errw, f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	storeOwned = false
	defer n.Close()
	if psk != nil {
		fmt.Fprintln(errw, "private swarm (swarm.key): TCP only, QUIC is off")
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = n.Start(startCtx)
	cancel()
	if err != nil {
		return err
	}

	gw, err := gateway.New(gateway.Config{
		Node:          n,
		Token:         token,
		FetchTimeout:  time.Duration(cfg.Gateway.FetchTimeout),
		MaxUploadSize: int64(min(uint64(cfg.Gateway.MaxUploadSize), math.MaxInt64)),
		MaxFetches:    cfg.Gateway.MaxFetches,
		ClientTimeout: time.Duration(cfg.Gateway.ClientTimeout),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", gatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	// Requests run under a context that shutdown cancels, so no handler
	// outlives the node it uses.
	reqCtx, cancelReqs := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			cancelReqs()
			srv.Close()
		}
		cancelReqs()
	}()

	base := "http://" + ln.Addr().String()
	apiFile := repo.APIFilePath(path)
	if err := writeAtomic(apiFile, []byte(base+"\n")); err != nil {
		return err
	}
	defer os.Remove(apiFile)

	fmt.Fprintf(out, "peer ID: %s\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintf(out, "swarm listening on %s\n", a)
	}
	fmt.Fprintf(out, "gateway and API on %s\n", base)
	fmt.Fprintln(out, "daemon is ready")

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "shutting down")
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("gateway: %w", err)
	}
}

func orDefault(flags, cfg []string) []string {
	if len(flags) > 0 {
		return flags
	}
	return cfg
}

func parseAddrs(ss []string) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func parsePeers(ss []string) ([]peer.AddrInfo, error) {
	addrs, err := parseAddrs(ss)
	if err != nil {
		return nil, err
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("%w (each must end in /p2p/PEERID)", err)
	}
	return infos, nil
}

// writeAtomic writes a file by renaming a synced temporary beside it, so a
// reader sees the old content or the new, never a part.
func writeAtomic(name string, data []byte) error {
	return writeFileAtomic(name, bytes.NewReader(data), nil)
}
