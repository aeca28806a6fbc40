package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Ack is a write the cluster acknowledged: from then on it must read back
// byte for byte from every node.
type Ack struct {
	CID   string
	Path  string // inside a folder ("" for a file)
	Size  int
	Hash  [32]byte
	Node  int
	At    time.Time
	Files int // >0 for a folder: its files (Path is one of them)
	// Seq numbers the acknowledgements. Readers read only even ones
	// during the run, so the odd ones are never cached by a read: their
	// copies are the replicas alone, which the monitor counts for the
	// surplus check.
	Seq int
}

// Unread says the workload never reads a during the run.
func (a Ack) Unread() bool { return a.Seq%2 == 1 }

// Read is one read made while the schedule ran.
type Read struct {
	At      time.Time
	Node    int
	Latency time.Duration
	Outcome string // "ok", "mismatch", or what failed: "status 504", "timeout", "connection"
}

// AddResult is one add's outcome, acknowledged or not.
type AddResult struct {
	At      time.Time
	Node    int
	Status  int    // HTTP status (0: no answer)
	Outcome string // "acked" or why not
	Err     string // the error's text, for a 5xx
}

// Record is what the workload saw, shared by its goroutines.
type Record struct {
	mu    sync.Mutex
	adds  int // acknowledged adds, numbering them
	Acks  []Ack
	Reads []Read
	Adds  []AddResult
}

// ack records the acknowledgements of one add (a folder's entries share
// its number).
func (r *Record) ack(as ...Ack) {
	r.mu.Lock()
	for _, a := range as {
		a.Seq = r.adds
		r.Acks = append(r.Acks, a)
	}
	r.adds++
	r.mu.Unlock()
}

func (r *Record) add(a AddResult) {
	r.mu.Lock()
	r.Adds = append(r.Adds, a)
	r.mu.Unlock()
}

func (r *Record) read(x Read) {
	r.mu.Lock()
	r.Reads = append(r.Reads, x)
	r.mu.Unlock()
}

// AcksSnapshot copies the acknowledgements so far.
func (r *Record) AcksSnapshot() []Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Ack(nil), r.Acks...)
}

// Client talks to the nodes' APIs and gateways from the clients'
// namespace.
type Client struct {
	HTTP    *http.Client
	daemons []*Daemon
}

func newClient(n *Net, daemons []*Daemon) *Client {
	tr := &http.Transport{DialContext: n.DialContext, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	return &Client{HTTP: &http.Client{Transport: tr}, daemons: daemons}
}

// fileSize draws a file's size: mostly small, some of several blocks.
func fileSize(rng *rand.Rand) int {
	switch x := rng.Intn(100); {
	case x < 50:
		return 1 + rng.Intn(4<<10)
	case x < 85:
		return 4<<10 + rng.Intn(60<<10)
	case x < 97:
		return 64<<10 + rng.Intn(448<<10)
	default:
		return 512<<10 + rng.Intn(1536<<10)
	}
}

// Add sends data (or a folder of files) to node i's API.
func (c *Client) Add(ctx context.Context, i int, name string, data []byte) (string, int, error) {
	d := c.daemons[i]
	req, err := http.NewRequestWithContext(ctx, "POST", d.API+"/api/v1/add?name="+url.QueryEscape(name), bytes.NewReader(data))
	if err != nil {
		return "", 0, err
	}
	return c.sendAdd(req, d)
}

// AddFolder sends files (path -> bytes, under one folder) as multipart.
func (c *Client) AddFolder(ctx context.Context, i int, files map[string][]byte) (string, int, error) {
	d := c.daemons[i]
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		w, err := mw.CreateFormFile("file", p)
		if err != nil {
			return "", 0, err
		}
		w.Write(files[p])
	}
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, "POST", d.API+"/api/v1/add", &buf)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.sendAdd(req, d)
}

func (c *Client) sendAdd(req *http.Request, d *Daemon) (string, int, error) {
	d.mu.Lock()
	tok := d.Token
	d.mu.Unlock()
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct{ Cid string }
	if err := json.Unmarshal(body, &out); err != nil || out.Cid == "" {
		return "", resp.StatusCode, fmt.Errorf("add answer %q: %v", body, err)
	}
	return out.Cid, resp.StatusCode, nil
}

// Get reads /ipfs/cid[/path] from node i and returns its SHA-256 and size.
func (c *Client) Get(ctx context.Context, i int, cid, path string) ([32]byte, int, error) {
	u := c.daemons[i].API + "/ipfs/" + cid
	if path != "" {
		u += "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return [32]byte{}, 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return [32]byte{}, resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, int(n), err
}

// outcome names a failed request's cause briefly, for counting.
func outcome(status int, err error) string {
	switch {
	case err == nil:
		return "ok"
	case status != 0:
		return fmt.Sprintf("status %d", status)
	case strings.Contains(err.Error(), "deadline exceeded") || strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	return "connection"
}

// Workload adds and reads until ctx ends: writers add files (and now and
// then a folder) through random nodes, readers read random acknowledged
// files through random nodes.
type Workload struct {
	Client  *Client
	Nodes   int
	Writers int
	Readers int
	Seed    int64
	Rec     *Record
	// Pause between a writer's adds, and a reader's reads.
	WriteEvery, ReadEvery time.Duration
}

// Run runs the writers and readers until ctx ends.
func (w *Workload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.Writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.write(ctx, rand.New(rand.NewSource(w.Seed+int64(i)))) }()
	}
	for i := range w.Readers {
		wg.Add(1)
		go func() { defer wg.Done(); w.readLoop(ctx, rand.New(rand.NewSource(w.Seed+1000+int64(i)))) }()
	}
	wg.Wait()
}

func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (w *Workload) write(ctx context.Context, rng *rand.Rand) {
	for n := 0; pause(ctx, w.WriteEvery); n++ {
		i := rng.Intn(w.Nodes)
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		start := time.Now()
		if rng.Intn(10) == 0 {
			files := map[string][]byte{}
			for k := range 2 + rng.Intn(4) {
				data := make([]byte, 1+rng.Intn(16<<10))
				rng.Read(data)
				files[fmt.Sprintf("dir-%d-%d/f%d.bin", w.Seed, n, k)] = data
			}
			root, status, err := w.Client.AddFolder(actx, i, files)
			w.noteAdd(start, i, status, err)
			if err == nil {
				var as []Ack
				for p, data := range files {
					_, rel, _ := strings.Cut(p, "/")
					as = append(as, Ack{CID: root, Path: rel, Size: len(data), Hash: sha256.Sum256(data), Node: i, At: time.Now(), Files: len(files)})
				}
				w.Rec.ack(as...)
			}
		} else {
			data := make([]byte, fileSize(rng))
			rng.Read(data)
			root, status, err := w.Client.Add(actx, i, fmt.Sprintf("file-%d", n), data)
			w.noteAdd(start, i, status, err)
			if err == nil {
				w.Rec.ack(Ack{CID: root, Size: len(data), Hash: sha256.Sum256(data), Node: i, At: time.Now()})
			}
		}
		cancel()
	}
}

func (w *Workload) noteAdd(at time.Time, i, status int, err error) {
	a := AddResult{At: at, Node: i, Status: status, Outcome: "acked"}
	if err != nil {
		a.Outcome = outcome(status, err)
		if status >= 500 && status != http.StatusInsufficientStorage {
			a.Err = err.Error()[:min(len(err.Error()), 300)]
		}
	}
	w.Rec.add(a)
}

func (w *Workload) readLoop(ctx context.Context, rng *rand.Rand) {
	for pause(ctx, w.ReadEvery) {
		acks := w.Rec.AcksSnapshot()
		if len(acks) == 0 {
			continue
		}
		a := acks[rng.Intn(len(acks))]
		for try := 0; a.Unread() && try < 8; try++ {
			a = acks[rng.Intn(len(acks))] // odd ones are the monitor's surplus count's
		}
		if a.Unread() {
			continue
		}
		i := rng.Intn(w.Nodes)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		sum, n, err := w.Client.Get(rctx, i, a.CID, a.Path)
		cancel()
		if ctx.Err() != nil {
			return // the run ended mid-read: not an outcome
		}
		r := Read{At: start, Node: i, Latency: time.Since(start), Outcome: outcome(0, err)}
		if err != nil {
			var status int
			fmt.Sscanf(err.Error(), "status %d", &status)
			r.Outcome = outcome(status, err)
		} else if sum != a.Hash || n != a.Size {
			r.Outcome = "mismatch"
		}
		w.Rec.read(r)
	}
}
