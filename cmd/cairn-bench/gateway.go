package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/cmd/nodeapi"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
)

// Gateway bench settings, set by flags in main.
var (
	gwDuration = 10 * time.Second // length of one small-object round
	gwWorkers  = 16               // load workers, one keep-alive connection each
	// gwProfile, if set, is the prefix of CPU profiles of the timed load
	// only: PREFIX.small and PREFIX.large.
	gwProfile string
)

const (
	gwObjects    = 1000    // distinct small objects
	gwObjectSize = 1 << 10 // bytes of each
	gwAdders     = 8       // concurrent Adds while loading the small objects

	gwTargetRPS  = 10000 // small-object target, req/s
	gwKuboRPS    = 5800  // kubo 0.42 on this machine
	gwTargetMBps = 1200  // large-object target, MB/s
	gwKuboMBps   = 1090  // kubo 0.42 on this machine
)

// gatewayBench is one in-process node behind its HTTP gateway, served by a
// real net/http server on loopback with the settings of `cairn daemon`.
type gatewayBench struct {
	node       *node.Node
	srv        *http.Server
	served     chan error
	cancelReqs context.CancelFunc
	base       string       // http://127.0.0.1:PORT
	newConns   atomic.Int64 // connections the server has accepted
}

func startGateway(ctx context.Context, dir string) (*gatewayBench, error) {
	n, err := benchNode(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("gateway node: %w", err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	gw, err := gateway.New(gateway.Config{Backend: &nodeapi.Online{N: n}, Token: hex.EncodeToString(tok)})
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("gateway listen: %w", err)
	}
	g := &gatewayBench{node: n, served: make(chan error, 1), base: "http://" + ln.Addr().String()}
	// As cmd/cairn/daemon.go, plus a hook that counts connections.
	reqCtx, cancelReqs := context.WithCancel(context.Background())
	g.cancelReqs = cancelReqs
	g.srv = &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				g.newConns.Add(1)
			}
		},
	}
	go func() { g.served <- g.srv.Serve(ln) }()
	return g, nil
}

// close shuts the server down as the daemon does, then closes the node.
func (g *gatewayBench) close() error {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := g.srv.Shutdown(sctx); err != nil {
		g.cancelReqs()
		g.srv.Close()
		errs = append(errs, fmt.Errorf("gateway shutdown: %w", err))
	}
	g.cancelReqs()
	if err := <-g.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("gateway serve: %w", err))
	}
	if err := g.node.Close(); err != nil {
		errs = append(errs, fmt.Errorf("gateway node close: %w", err))
	}
	return errors.Join(errs...)
}

// runGateway measures the gateway: many small objects over keep-alive
// connections (req/s), and one large object per fresh connection (TTFB
// and MB/s).
func runGateway(small, large bool, size int64, runs int, dir string) (err error) {
	ctx := context.Background()
	gdir := filepath.Join(dir, "gateway")
	defer os.RemoveAll(gdir)
	g, err := startGateway(ctx, gdir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := g.close(); err == nil {
			err = cerr
		}
	}()
	if small {
		if err := g.benchSmall(ctx, runs); err != nil {
			return err
		}
	}
	if large {
		if err := g.benchLarge(ctx, size, runs); err != nil {
			return err
		}
	}
	return nil
}

// startProfile starts a CPU profile into name if profiling was asked for;
// the returned func stops it.
func startProfile(name string) (func(), error) {
	if gwProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(gwProfile + "." + name)
	if err != nil {
		return nil, fmt.Errorf("gateway profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("gateway profile (not with -cpuprofile): %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// addSmall adds the distinct random small objects, a few at a time.
func (g *gatewayBench) addSmall(ctx context.Context) ([]cid.Cid, error) {
	cids := make([]cid.Cid, gwObjects)
	next := atomic.Int64{}
	errs := make([]error, gwAdders)
	var wg sync.WaitGroup
	for a := 0; a < gwAdders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, gwObjectSize)
			for i := int(next.Add(1) - 1); i < gwObjects; i = int(next.Add(1) - 1) {
				rand.Read(buf)
				res, err := g.node.Add(ctx, bytes.NewReader(buf), chunk.AddOptions{})
				if err != nil {
					errs[a] = fmt.Errorf("add small object %d: %w", i, err)
					return
				}
				cids[i] = res.Root
			}
		}()
	}
	wg.Wait()
	return cids, errors.Join(errs...)
}

func (g *gatewayBench) benchSmall(ctx context.Context, runs int) error {
	fmt.Printf("adding %s random objects of %d bytes...\n", thousands(gwObjects), gwObjectSize)
	cids, err := g.addSmall(ctx)
	if err != nil {
		return err
	}
	urls := make([]string, len(cids))
	for i, c := range cids {
		urls[i] = g.base + "/ipfs/" + c.String()
	}
	stop, err := startProfile("small")
	if err != nil {
		return err
	}
	var rates []float64
	var all []string
	for i := 0; i < runs; i++ {
		r, err := g.smallRound(urls)
		if err != nil {
			stop()
			return fmt.Errorf("small objects, round %d: %w", i+1, err)
		}
		rps := float64(r.ok) / r.elapsed.Seconds()
		fmt.Printf("round %d: %.0f req/s (%d OK in %.2fs; %d connections, %d requests on a reused one, server accepted %d; %d errors)\n",
			i+1, rps, r.ok, r.elapsed.Seconds(), r.conns, r.reused, r.serverConns, r.errors())
		if r.errors() > 0 {
			fmt.Printf("  errors: %d transport, %d non-200, %d wrong length; first: %v\n", r.failed, r.badStatus, r.badLen, r.firstErr)
		}
		rates = append(rates, rps)
		all = append(all, fmt.Sprintf("%.0f", rps))
	}
	stop()
	rps := median(rates)
	verdict := verdictOf(rps, gwTargetRPS)
	fmt.Printf(`
gateway, small objects: GET /ipfs/{cid} of %s distinct %d-byte objects, round robin,
%d workers with one keep-alive HTTP/1.1 connection each (client in the same process),
%v per round, median of %d; counting only 200s with the full body read:
  requests                  %7.0f req/s   (rounds: %s)
  target %s req/s (kubo 0.42 here: %s req/s): %s

`, thousands(gwObjects), gwObjectSize, gwWorkers, gwDuration, runs, rps, strings.Join(all, ", "), thousands(gwTargetRPS), thousands(gwKuboRPS), verdict)
	return nil
}

type smallResult struct {
	ok, failed, badStatus, badLen int64
	conns, reused                 int64 // seen by the clients
	serverConns                   int64 // accepted by the server
	firstErr                      error
	elapsed                       time.Duration
}

func (r *smallResult) errors() int64 { return r.failed + r.badStatus + r.badLen }

// smallRound runs the workers for gwDuration. Each opens its connection
// with one untimed request, then all start together; the round lasts until
// the last worker's last request is done, and only what completed counts.
func (g *gatewayBench) smallRound(urls []string) (smallResult, error) {
	var res smallResult
	var mu sync.Mutex
	note := func(counter *int64, err error) {
		mu.Lock()
		*counter++
		if res.firstErr == nil {
			res.firstErr = err
		}
		mu.Unlock()
	}
	accepted := g.newConns.Load()
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var deadline time.Time
	var warmErr atomic.Pointer[error]
	for w := 0; w < gwWorkers; w++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			tr := &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				MaxConnsPerHost:     1,
				MaxIdleConnsPerHost: 1,
				MaxIdleConns:        1,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var conns, reused atomic.Int64
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) {
					if info.Reused {
						reused.Add(1)
					} else {
						conns.Add(1)
					}
				},
			})
			get := func(url string) (int64, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					return 0, err
				}
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return n, fmt.Errorf("read body: %w", err)
				}
				if resp.StatusCode != http.StatusOK {
					return n, &statusError{resp.StatusCode}
				}
				return n, nil
			}
			i := w * len(urls) / gwWorkers
			if _, err := get(urls[i]); err != nil {
				warmErr.CompareAndSwap(nil, &err)
			}
			ready.Done()
			<-start
			var ok int64
			for time.Now().Before(deadline) {
				i = (i + 1) % len(urls)
				n, err := get(urls[i])
				var se *statusError
				switch {
				case errors.As(err, &se):
					note(&res.badStatus, fmt.Errorf("GET %s: %w", urls[i], err))
				case err != nil:
					note(&res.failed, fmt.Errorf("GET %s: %w", urls[i], err))
				case n != gwObjectSize:
					note(&res.badLen, fmt.Errorf("GET %s: %d bytes, want %d", urls[i], n, gwObjectSize))
				default:
					ok++
				}
			}
			mu.Lock()
			res.ok += ok
			res.conns += conns.Load()
			res.reused += reused.Load()
			mu.Unlock()
		}()
	}
	ready.Wait()
	if p := warmErr.Load(); p != nil {
		deadline = time.Now() // stop at once
		close(start)
		done.Wait()
		return res, fmt.Errorf("warm-up request: %w", *p)
	}
	t0 := time.Now()
	deadline = t0.Add(gwDuration)
	close(start)
	done.Wait()
	res.elapsed = time.Since(t0)
	res.serverConns = g.newConns.Load() - accepted
	return res, nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("status %d", e.code) }

func (g *gatewayBench) benchLarge(ctx context.Context, size int64, runs int) error {
	fmt.Printf("adding %d MiB of random data as one object...\n", size>>20)
	res, err := g.node.Add(ctx, io.LimitReader(rand.Reader, size), chunk.AddOptions{})
	if err != nil {
		return fmt.Errorf("add large object: %w", err)
	}
	if res.Size != uint64(size) {
		return fmt.Errorf("add large object: %d bytes added, want %d", res.Size, size)
	}
	url := g.base + "/ipfs/" + res.Root.String()
	stop, err := startProfile("large")
	if err != nil {
		return err
	}
	var rates, ttfbs []float64
	var all []string
	for i := 0; i < runs; i++ {
		ttfb, total, err := getLarge(url, size)
		if err != nil {
			stop()
			return fmt.Errorf("large object, round %d: %w", i+1, err)
		}
		mbps := float64(size) / 1e6 / total.Seconds()
		fmt.Printf("round %d: %.0f MB/s (%.3fs), TTFB %s\n", i+1, mbps, total.Seconds(), fmtMs(ttfb))
		rates = append(rates, mbps)
		ttfbs = append(ttfbs, ttfb.Seconds())
		all = append(all, fmt.Sprintf("%.0f", mbps))
	}
	stop()
	mbps := median(rates)
	verdict := verdictOf(mbps, gwTargetMBps)
	fmt.Printf(`
gateway, large object: GET /ipfs/{cid} of a %d MiB random file held by the node,
a fresh connection per GET, median of %d; timed from the request until the last
body byte is read (byte count checked), TTFB until the first response byte:
  throughput                %7.0f MB/s    (rounds: %s)
  time to first byte        %7s
  target %s MB/s (kubo 0.42 here: %s MB/s): %s

`, size>>20, runs, mbps, strings.Join(all, ", "), fmtMs(time.Duration(median(ttfbs)*float64(time.Second))),
		thousands(gwTargetMBps), thousands(gwKuboMBps), verdict)
	return nil
}

// getLarge GETs url on a fresh connection and reads the body in 1 MiB
// reads, returning the time to the first response byte and to the last
// body byte.
func getLarge(url string, size int64) (time.Duration, time.Duration, error) {
	tr := &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression: true,
		DisableKeepAlives:  true,
	}
	defer tr.CloseIdleConnections()
	var start time.Time
	var ttfb time.Duration
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { ttfb = time.Since(start) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	buf := make([]byte, 1<<20)
	start = time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, 0, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("GET %s: read body after %d bytes: %w", url, n, err)
		}
	}
	total := time.Since(start)
	if n != size || resp.ContentLength != size {
		return 0, 0, fmt.Errorf("GET %s: read %d bytes (Content-Length %d), want %d", url, n, resp.ContentLength, size)
	}
	return ttfb, total, nil
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// thousands formats n with comma separators: 10000 is "10,000".
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
