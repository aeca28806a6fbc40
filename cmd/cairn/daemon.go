package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/gateway/console"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
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
	// CAIRN_CPUPROFILE names a file for a CPU profile of the whole run, and
	// CAIRN_TRACE one for a Go execution trace of it, written when the
	// daemon stops cleanly: where a daemon spends its time (cairn-bench
	// profiles its daemons this way), and where requests wait (`go tool
	// trace -pprof=sync FILE`), which a CPU profile does not show.
	for _, rec := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"CAIRN_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"CAIRN_TRACE", trace.Start, trace.Stop},
	} {
		name := os.Getenv(rec.env)
		if name == "" {
			continue
		}
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("%s: %w", rec.env, err)
		}
		defer f.Close()
		if err := rec.start(f); err != nil {
			return fmt.Errorf("%s: %w", rec.env, err)
		}
		defer rec.stop()
	}
	// CAIRN_MEMPROFILE names a file for a heap profile taken when the
	// daemon stops cleanly: what its resident memory is made of.
	if name := os.Getenv("CAIRN_MEMPROFILE"); name != "" {
		defer func() {
			f, err := os.Create(name)
			if err == nil {
				err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
			}
			if err != nil {
				fmt.Fprintln(errw, "CAIRN_MEMPROFILE:", err)
			}
		}()
	}
	path, err := repoPath(cmd)
	if err != nil {
		return err
	}
	r, err := repo.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	cfg := r.Config()
	opts := []node.Option{node.WithLogf(func(f string, a ...any) { fmt.Fprintf(errw, f+"\n", a...) })}
	if len(listenFlags) > 0 {
		listen, err := parseAddrs(listenFlags)
		if err != nil {
			return fmt.Errorf("listen address: %w", err)
		}
		opts = append(opts, node.WithListen(listen...))
	}
	if len(bootstrapFlags) > 0 {
		boot, err := parsePeers(bootstrapFlags)
		if err != nil {
			return fmt.Errorf("bootstrap peer: %w", err)
		}
		opts = append(opts, node.WithBootstrap(boot...))
	}
	if gatewayAddr == "" {
		gatewayAddr = cfg.Addresses.Gateway
	}
	token, err := r.APIToken()
	if err != nil {
		return err
	}
	psk, err := repo.LoadSwarmKey(path)
	if err != nil {
		return err
	}
	n, err := node.Open(r, opts...)
	if err != nil {
		return err
	}
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

	ln, err := net.Listen("tcp", gatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	backend := &nodeapi.Online{N: n}
	cons, err := console.New(console.Config{Backend: backend, FetchTimeout: time.Duration(cfg.Gateway.FetchTimeout)})
	if err != nil {
		ln.Close()
		return err
	}
	consCtx, stopConsole := context.WithCancel(ctx)
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		cons.Run(consCtx)
	}()
	defer func() {
		stopConsole()
		<-consDone
	}()
	gw, err := gateway.New(gateway.Config{
		Backend:       backend,
		Console:       cons,
		Token:         token,
		APIHosts:      apiHosts(ln.Addr(), cfg.Gateway.APIHosts),
		FetchTimeout:  time.Duration(cfg.Gateway.FetchTimeout),
		MaxUploadSize: int64(min(uint64(cfg.Gateway.MaxUploadSize), math.MaxInt64)),
		MaxFetches:    cfg.Gateway.MaxFetches,
		ClientTimeout: time.Duration(cfg.Gateway.ClientTimeout),
	})
	if err != nil {
		ln.Close()
		return err
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
	served := make(chan error, 2) // one for each listener
	go func() { served <- srv.Serve(ln) }()
	if uln, err := listenAPISocket(path); err != nil {
		fmt.Fprintf(errw, "API socket: %v (the CLI will use TCP)\n", err)
	} else {
		go func() { served <- srv.Serve(uln) }()
	}
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
	fmt.Fprintf(out, "web console on %s/\n", base)
	if warn := openSwarmWarning(path, cfg.Cluster.Writers, n.Addrs()); warn != "" {
		fmt.Fprintln(errw, warn)
	}
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

// listenAPISocket listens on the repo's API socket, which only the repo's
// owner may connect to. The CLI on this machine prefers it to loopback
// TCP: streaming a file through it costs the two processes about a third
// of the CPU (0.17 against 0.45 CPU-seconds for 512 MiB here), which a
// large cairn get gives to the fetch.
func listenAPISocket(repoPath string) (net.Listener, error) {
	p := repo.APISocketPath(repoPath)
	// One left by a daemon that was killed: the repo's lock, which this
	// daemon holds, says no other daemon serves on it.
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", p)
	if err != nil {
		return nil, err // a path too long for a socket, say
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
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

// apiHosts are the Host values the API answers: the listener's address,
// the loopback names at its port when it listens on loopback or on every
// address, and the names the config adds (Gateway.APIHosts, host:port).
func apiHosts(addr net.Addr, extra []string) []string {
	hosts := []string{strings.ToLower(addr.String())}
	if ta, ok := addr.(*net.TCPAddr); ok && (ta.IP.IsLoopback() || ta.IP.IsUnspecified()) {
		port := strconv.Itoa(ta.Port)
		hosts = append(hosts, "localhost:"+port, "127.0.0.1:"+port, "[::1]:"+port)
	}
	for _, h := range extra {
		hosts = append(hosts, strings.ToLower(h))
	}
	return hosts
}

// openSwarmWarning says so when anyone who reaches this node could pin
// and unpin: no swarm key, no Cluster.Writers, and a swarm address other
// than loopback.
func openSwarmWarning(repoPath string, writers []string, addrs []ma.Multiaddr) string {
	if len(writers) > 0 {
		return ""
	}
	if _, err := os.Stat(repo.SwarmKeyPath(repoPath)); err == nil {
		return ""
	}
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			return "warning: open swarm reachable on " + a.String() + " with no Cluster.Writers: any peer may pin and unpin (make a private swarm with `cairn init --swarm-key`, or set Cluster.Writers)"
		}
	}
	return ""
}
