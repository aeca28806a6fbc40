package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// absentCID is a CID nobody in these tests holds or provides.
const absentCID = "bafkreihmzqbsjjvmvexdhs5liluma546fw34mh4glu5enmn6gec24o4ksu"

// sample sums the samples of a metric family whose labels include want
// (a histogram counts its observations).
func sample(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadsOfAbsentContentPastMaxFetchesGet503(t *testing.T) {
	srv, _ := newGateway(t, func(c *gateway.Config) {
		c.MaxFetches = 1
		c.FetchTimeout = time.Minute // the first read holds its slot until cancelled
	})
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		defer close(held)
		// Until it gets the slot (a probe below may hold it for a moment).
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ipfs/"+absentCID, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return
			}
		}
	}()
	defer func() { cancel(); <-held }()

	var resp *http.Response
	var body []byte
	waitFor(t, "a 503 while the only fetch slot is taken", 10*time.Second, func() bool {
		// Should this probe take the slot before the long read does, it
		// gives it back when its short deadline passes.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ipfs/"+absentCID+"?format=raw", nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		resp = r
		body, _ = io.ReadAll(r.Body)
		return r.StatusCode == http.StatusServiceUnavailable
	})
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "in flight") {
		t.Fatalf("503 without Retry-After or reason: %v %s", resp.Header, body)
	}
	// Content held here needs no slot.
	resp, body = do(t, "POST", srv.URL+"/ipfs/", testToken, strings.NewReader("held here"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if resp, body = do(t, "GET", srv.URL+resp.Header.Get("Location"), "", nil); resp.StatusCode != 200 || string(body) != "held here" {
		t.Fatalf("read of held content while slots are full: %d %s", resp.StatusCode, body)
	}
	// The API routes that fetch or look up take the same slots: stat, ls
	// and resolve of content not held, replicas and providers always.
	for _, path := range []string{"/api/v1/stat/" + absentCID, "/api/v1/ls/" + absentCID, "/api/v1/resolve/" + absentCID,
		"/api/v1/stat/" + absentCID + "/a/b", "/api/v1/replicas/" + absentCID, "/api/v1/providers/" + absentCID} {
		if resp, body := do(t, "GET", srv.URL+path, "", nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s while every slot is taken: %d %s, want 503", path, resp.StatusCode, body)
		}
	}
	// Once the slot is given back, absent content is looked for again
	// (the probe's own deadline ends it, rather than a 503).
	cancel()
	<-held
	waitFor(t, "the slot to come back", 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ipfs/"+absentCID+"?format=raw", nil)
		r, err := http.DefaultClient.Do(req)
		if err == nil {
			r.Body.Close()
		}
		return errors.Is(err, context.DeadlineExceeded)
	})
}

func TestTheProvidersRouteBoundsMax(t *testing.T) {
	srv, _ := newGateway(t, func(*gateway.Config) {})
	for _, max := range []string{"0", "-1", "101", "1000000", "many"} {
		resp, body := do(t, "GET", srv.URL+"/api/v1/providers/"+absentCID+"?max="+max, "", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "1 to 100") {
			t.Errorf("max=%s: %d %s, want 400 naming the range", max, resp.StatusCode, body)
		}
	}
}

// rawRequest writes an HTTP/1.1 request by hand on a fresh connection.
func rawRequest(t *testing.T, url, req string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestClientThatStopsReadingIsCutOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, n := newGateway(t, func(c *gateway.Config) {
		c.ClientTimeout = 200 * time.Millisecond
		c.Registry = reg
	})
	// Larger than the socket buffers, so the server's writes block.
	data := make([]byte, 48<<20)
	mrand.New(mrand.NewSource(3)).Read(data)
	root := addBytes(t, n, data)
	before := sample(t, reg, "cairn_http_requests_total", nil)

	conn := rawRequest(t, srv.URL, fmt.Sprintf("GET /ipfs/%s HTTP/1.1\r\nHost: x\r\n\r\n", root))
	// The handler gives up on the stalled client and returns.
	waitFor(t, "the handler to give up on a client that does not read", 20*time.Second, func() bool {
		return sample(t, reg, "cairn_http_requests_total", nil) > before
	})
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, _ := io.Copy(io.Discard, conn)
	if got >= int64(len(data)) {
		t.Fatalf("the stalled client still got the whole file (%d bytes)", got)
	}
}

func TestUploadThatStallsIsCutOffAndStoresNothing(t *testing.T) {
	srv, n := newGateway(t, func(c *gateway.Config) { c.ClientTimeout = 200 * time.Millisecond })
	conn := rawRequest(t, srv.URL, "POST /ipfs/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+
		"\r\nContent-Length: 100000\r\n\r\nonly the first bytes")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	// The server answers with an error or hangs up; either way it does
	// not wait for the rest of the body for ever.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("stalled upload answered %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still waits for the stalled upload's body")
	}
	if st := n.Stats(); st.Blocks != 0 {
		t.Fatalf("a stalled upload stored %d blocks", st.Blocks)
	}
}

func TestMetricsCountBytesServedAndTimeToFirstByte(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, n := newGateway(t, func(c *gateway.Config) { c.Registry = reg })
	data := bytes.Repeat([]byte("cairn "), 100_000)
	root := addBytes(t, n, data)
	for range 3 {
		if resp, body := do(t, "GET", srv.URL+"/ipfs/"+root.String(), "", nil); resp.StatusCode != 200 || len(body) != len(data) {
			t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	// The server counts a request once its handler has returned, which
	// can be just after the client has read the last byte.
	waitFor(t, "the third request counted", 10*time.Second, func() bool {
		return sample(t, reg, "cairn_http_requests_total", map[string]string{"status": "200"}) == 3
	})
	if got := sample(t, reg, "cairn_http_response_bytes_total", map[string]string{"route": "ipfs"}); got != float64(3*len(data)) {
		t.Errorf("bytes served on /ipfs = %v, want %d", got, 3*len(data))
	}
	if got := sample(t, reg, "cairn_http_time_to_first_byte_seconds", map[string]string{"route": "ipfs"}); got != 3 {
		t.Errorf("time-to-first-byte observations on /ipfs = %v, want 3", got)
	}
	if got := sample(t, reg, "cairn_http_requests_total", map[string]string{"status": "200"}); got != 3 {
		t.Errorf("requests with status 200 = %v, want 3", got)
	}
}

func addBytes(t *testing.T, n *node.Node, data []byte) cid.Cid {
	t.Helper()
	res, err := n.Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Root
}
