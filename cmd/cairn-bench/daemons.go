package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// daemon is a `cairn daemon` process the bench started.
type daemon struct {
	repo, base, token string
	cmd               *exec.Cmd
}

// noReplication is the config of the daemons bench's daemons: R=W=1, so
// no pushes run during the timing.
var noReplication = [][2]string{{"Replication.WriteQuorum", "1"}, {"Replication.Factor", "1"}}

// startBenchDaemon makes a repo with the config keys set (in order) and
// starts a daemon on it, on loopback.
func startBenchDaemon(bin, repoDir string, set [][2]string) (*daemon, error) {
	env := append(os.Environ(), "CAIRN_PATH="+repoDir)
	cmds := [][]string{{"init"}}
	for _, kv := range set {
		cmds = append(cmds, []string{"config", kv[0], kv[1]})
	}
	for _, args := range cmds {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("cairn %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command(bin, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--gateway", "127.0.0.1:0")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{repo: repoDir, cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(repoDir, "api")); err == nil {
			d.base = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("the daemon on %s published no API address within 30s", repoDir)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	tok, err := os.ReadFile(filepath.Join(repoDir, "api-token"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.token = strings.TrimSpace(string(tok))
	return d, nil
}

// stop ends the daemon cleanly (so that a CPU profile asked for with
// CAIRN_CPUPROFILE is written), or kills it after 10 s.
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

// call makes an API request with the token and decodes the JSON answer.
func (d *daemon) call(method, path string, body []byte, out any) error {
	return d.send(method, path, bytes.NewReader(body), int64(len(body)), out)
}

// send is call with the body streamed from r.
func (d *daemon) send(method, path string, r io.Reader, size int64, out any) error {
	req, err := http.NewRequest(method, d.base+path, r)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// addFile adds the file at path through d's API, streaming it, and
// returns its root.
func (d *daemon) addFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	var res struct{ Cid string }
	if err := d.send("POST", "/api/v1/add", f, st.Size(), &res); err != nil {
		return "", err
	}
	return res.Cid, nil
}

// getRate reads root, size bytes, through d's gateway and returns the
// MB/s.
func (d *daemon) getRate(root string, size int64) (float64, error) {
	start := time.Now()
	resp, err := http.Get(d.base + "/ipfs/" + root)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		return 0, fmt.Errorf("GET /ipfs/%s: %d of %d bytes: %v", root, n, size, err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}

// swarmAddr is the first swarm address of d, with its peer ID.
func (d *daemon) swarmAddr() (string, error) {
	var id struct{ Addresses []string }
	if err := d.call("GET", "/api/v1/id", nil, &id); err != nil {
		return "", err
	}
	if len(id.Addresses) == 0 {
		return "", fmt.Errorf("daemon %s has no address", d.repo)
	}
	return id.Addresses[0], nil
}

// runDaemons times `cairn get -o` of a file between real daemons on
// loopback, from one provider daemon and from three, against the
// in-process fetch of the same file in the same sitting (the daemon path
// may lose at most 30% of it) and kubo's bitswap (71 MB/s here).
func runDaemons(cairn string, size int64, runs int, dir string) error {
	bin, err := filepath.Abs(cairn)
	if err != nil {
		return err
	}
	input := filepath.Join(dir, "input")
	fmt.Printf("writing %d MiB of random input...\n", size>>20)
	if err := writeRandom(input, size); err != nil {
		return err
	}
	var provs []*daemon
	defer func() {
		for _, p := range provs {
			p.stop()
		}
	}()
	var root string
	for i := range 3 {
		p, err := startBenchDaemon(bin, filepath.Join(dir, fmt.Sprintf("dprov%d", i)), noReplication)
		if err != nil {
			return err
		}
		provs = append(provs, p)
		if root, err = p.addFile(input); err != nil { // the same CID on each
			return err
		}
	}
	c, err := cid.Decode(root)
	if err != nil {
		return err
	}
	// The yardstick: in-process nodes over the same loopback.
	ctx := context.Background()
	inProv, err := benchNode(ctx, filepath.Join(dir, "inprov"))
	if err != nil {
		return err
	}
	defer inProv.Close()
	if err := addInProcess(ctx, inProv, input, c); err != nil {
		return err
	}

	quiesce(provs)

	var ones, threes, inprocs []float64
	for i := range runs {
		// This VM slows down as the page cache fills with the fetchers'
		// writes: each fetcher's repo goes once timed, and the order of
		// the three measurements turns round by round.
		var inproc, inprocSynced, one, three, split float64
		steps := []func() error{
			func() (err error) {
				d := filepath.Join(dir, fmt.Sprintf("inproc%d", i))
				defer os.RemoveAll(d)
				cpu0 := cpuSeconds(os.Getpid())
				inproc, inprocSynced, err = timeFetch(ctx, d, c, size, []*node.Node{inProv})
				fmt.Printf("  in-process fetch: %.2f s; CPU s: both nodes %.2f\n", float64(size)/1e6/inproc, cpuSeconds(os.Getpid())-cpu0)
				return err
			},
			func() (err error) {
				one, err = timeGet(bin, filepath.Join(dir, fmt.Sprintf("done%d", i)), root, size, provs[:1])
				return err
			},
			func() (err error) {
				three, err = timeGet(bin, filepath.Join(dir, fmt.Sprintf("dthree%d", i)), root, size, provs)
				return err
			},
		}
		if splitFetch {
			steps = append(steps, func() error {
				addr, err := provs[0].swarmAddr()
				if err != nil {
					return err
				}
				info, err := peer.AddrInfoFromString(addr)
				if err != nil {
					return err
				}
				d := filepath.Join(dir, fmt.Sprintf("split%d", i))
				defer os.RemoveAll(d)
				split, _, err = timeFetchFrom(ctx, d, c, size, []peer.AddrInfo{*info})
				return err
			})
		}
		for j := range steps {
			if err := steps[(i+j)%len(steps)](); err != nil {
				return err
			}
		}
		fmt.Printf("round %d: in-process fetch %.0f MB/s (%.0f with its final sync), cairn get from one daemon %.0f MB/s, from three %.0f MB/s\n", i+1, inproc, inprocSynced, one, three)
		if splitFetch {
			fmt.Printf("  in-process fetcher from the first provider daemon: %.0f MB/s\n", split)
		}
		ones, threes, inprocs = append(ones, one), append(threes, three), append(inprocs, inproc)
	}
	in := median(inprocs)
	fmt.Printf(`
cairn get -o of %d MiB from provider daemons to a fetching daemon on loopback (R=W=1), median of %d:
  in-process fetch (yardstick) %6.0f MB/s
  from one daemon              %6.0f MB/s   %.2fx in-process (target 0.7x): %s; %.1fx kubo's 71 MB/s (target 6x): %s
  from three daemons           %6.0f MB/s   %.2fx one daemon (target 1x): %s
`, size>>20, runs, in, median(ones), median(ones)/in, verdictOf(median(ones), 0.7*in), median(ones)/71, verdictOf(median(ones), 6*71),
		median(threes), median(threes)/median(ones), verdictOf(median(threes), median(ones)))
	return nil
}

// timeGet starts a fresh fetching daemon, connects it to provs and times
// `cairn get ROOT -o FILE` through it, until the file is written and
// synced.
func timeGet(bin, repoDir, root string, size int64, provs []*daemon) (float64, error) {
	if daemonProfile != "" {
		os.Setenv("CAIRN_CPUPROFILE", fmt.Sprintf("%s.%d", daemonProfile, len(provs)))
		defer os.Unsetenv("CAIRN_CPUPROFILE")
	}
	if daemonTrace != "" {
		os.Setenv("CAIRN_TRACE", fmt.Sprintf("%s.%d", daemonTrace, len(provs)))
		defer os.Unsetenv("CAIRN_TRACE")
	}
	f, err := startBenchDaemon(bin, repoDir, noReplication)
	if err != nil {
		return 0, err
	}
	defer func() { f.stop(); os.RemoveAll(repoDir) }()
	for _, p := range provs {
		addr, err := p.swarmAddr()
		if err != nil {
			return 0, err
		}
		if err := f.call("POST", "/api/v1/peers/connect?addr="+addr, nil, nil); err != nil {
			return 0, err
		}
	}
	if viaGateway {
		return f.getRate(root, size)
	}
	if viaPin {
		start := time.Now()
		if err := f.call("POST", "/api/v1/pins/"+root, nil, nil); err != nil {
			return 0, err
		}
		return float64(size) / 1e6 / time.Since(start).Seconds(), nil
	}
	cpu0 := processCPU(f, provs)
	busy0, idle0, wait0 := machineTicks()
	start := time.Now()
	out := repoDir + ".out"
	defer os.Remove(out)
	cmd := exec.Command(bin, "get", root, "-o", out)
	cmd.Env = append(os.Environ(), "CAIRN_PATH="+repoDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cairn get: %v: %s", err, b)
	}
	secs := time.Since(start).Seconds()
	cpu1 := processCPU(f, provs)
	busy1, idle1, wait1 := machineTicks()
	all := (busy1 - busy0) + (idle1 - idle0) + (wait1 - wait0)
	fmt.Printf("  cairn get from %d: %.2f s; CPU s: fetching daemon %.2f, providers %.2f, cairn get %.2f; the machine %.0f%% busy, %.0f%% in iowait\n", len(provs), secs,
		cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		100*(busy1-busy0)/max(all, 1), 100*(wait1-wait0)/max(all, 1))
	if st, err := os.Stat(out); err != nil || st.Size() != size {
		return 0, fmt.Errorf("cairn get wrote %v bytes (%v), want %d", st, err, size)
	}
	return float64(size) / 1e6 / secs, nil
}

// quiesce waits, up to 30 s, until the adds' writes are on disk and the
// providers (and this process, with its in-process provider) have gone
// idle: their announces of the blocks just added took CPU from the first
// round's timing.
func quiesce(provs []*daemon) {
	syscall.Sync()
	pids := []int{os.Getpid()}
	for _, p := range provs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	used := func() (t float64) {
		for _, pid := range pids {
			t += cpuSeconds(pid)
		}
		return t
	}
	const window = 500 * time.Millisecond
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		before := used()
		time.Sleep(window) // the span CPU use is measured over
		if used()-before < 0.02*float64(len(pids)) {
			return
		}
	}
	fmt.Println("(the providers did not go idle within 30 s)")
}

// processCPU is the CPU seconds used so far by the fetching daemon f
// and by the providers together.
func processCPU(f *daemon, provs []*daemon) [2]float64 {
	var c [2]float64
	c[0] = cpuSeconds(f.cmd.Process.Pid)
	for _, p := range provs {
		c[1] += cpuSeconds(p.cmd.Process.Pid)
	}
	return c
}

// viaGateway has the daemons bench read through the fetching daemon's
// gateway (as curl would) instead of `cairn get -o`, which also writes
// and fsyncs the output file.
var viaGateway bool

// viaPin has the daemons bench pin the file on the fetching daemon
// instead: its fetch into the store, without the read back and the
// stream that `cairn get` adds to it.
var viaPin bool

// splitFetch adds a fourth measurement to each round of the daemons
// bench: the in-process fetcher fetching from the first provider daemon,
// the yardstick with its two nodes in two processes.
var splitFetch bool

// addInProcess adds the file at path on n and checks it got root.
func addInProcess(ctx context.Context, n *node.Node, path string, root cid.Cid) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := n.Add(ctx, f, chunk.AddOptions{})
	if err != nil {
		return err
	}
	if !res.Root.Equals(root) {
		return fmt.Errorf("in-process add gave %s, the daemons %s", res.Root, root)
	}
	return nil
}

// daemonProfile, if set, is the prefix of CPU profiles of the fetching
// daemons: PREFIX.1 and PREFIX.3 (the last round of each).
var daemonProfile string

// daemonTrace, if set, is the prefix of execution traces of the fetching
// daemons, as daemonProfile.
var daemonTrace string
