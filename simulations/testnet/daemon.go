package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairnstore/cairn/node/repo"
)

// Daemon is one `cairn daemon` process in its node's namespace, with its
// repo on the node's disk.
type Daemon struct {
	I     int
	bin   string
	net   *Net
	disk  *Disk
	conf  map[string]string
	Repo  string
	Log   string
	API   string // http://10.77.x.y:8080
	Swarm string // its multiaddr with /p2p/ID

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	expect   bool     // the next exit is the nemesis's doing
	crashes  []string // exits nobody asked for
	ID       string
	Token    string
	restarts int
}

const (
	swarmPort   = 4001
	gatewayPort = 8080
)

func newDaemon(i int, bin string, n *Net, d *Disk, conf map[string]string) *Daemon {
	addr := NodeAddr(i)
	return &Daemon{I: i, bin: bin, net: n, disk: d, conf: conf, Repo: filepath.Join(d.Dir, "repo"),
		Log: filepath.Join(filepath.Dir(d.Dir), fmt.Sprintf("node%d.log", i)),
		API: fmt.Sprintf("http://%s:%d", addr, gatewayPort)}
}

func (d *Daemon) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.bin, append([]string{"--repo", d.Repo}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node %d: cairn %s: %w: %s", d.I, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Init makes a fresh repo (a new identity) with the harness's settings.
func (d *Daemon) Init(ctx context.Context) error {
	if err := os.RemoveAll(d.Repo); err != nil {
		return fmt.Errorf("node %d: remove repo: %w", d.I, err)
	}
	if _, err := d.cli(ctx, "init"); err != nil {
		return err
	}
	for k, v := range d.conf {
		if _, err := d.cli(ctx, "config", k, v); err != nil {
			return err
		}
	}
	out, err := d.cli(ctx, "id")
	if err != nil {
		return err
	}
	var id struct{ ID string }
	if err := json.Unmarshal(out, &id); err != nil {
		return fmt.Errorf("node %d: cairn id: %w", d.I, err)
	}
	tok, err := repo.ReadAPIToken(d.Repo)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.ID, d.Token = id.ID, tok
	d.Swarm = fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", NodeAddr(d.I), swarmPort, id.ID)
	d.mu.Unlock()
	return nil
}

// Start starts the daemon, bootstrapped to peers, and waits until its API
// file is written.
func (d *Daemon) Start(ctx context.Context, peers []string) error {
	apiFile := repo.APIFilePath(d.Repo)
	os.Remove(apiFile) // left by a killed daemon: wait for the new one's
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{"--repo", d.Repo, "daemon",
		"--listen", fmt.Sprintf("/ip4/%s/tcp/%d", NodeAddr(d.I), swarmPort),
		"--gateway", fmt.Sprintf("%s:%d", NodeAddr(d.I), gatewayPort)}
	for _, p := range peers {
		args = append(args, "--bootstrap", p)
	}
	cmd := d.net.Command(d.I, d.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so an interrupt of the harness reaches the
	// harness alone, which then stops every daemon itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logf, "=== harness: start at %s\n", time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("node %d: start: %w", d.I, err)
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.exited, d.expect = cmd, exited, false
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		d.mu.Lock()
		if !d.expect {
			d.crashes = append(d.crashes, fmt.Sprintf("node %d exited by itself at %s: %v", d.I, time.Now().Format(time.RFC3339), err))
		}
		d.mu.Unlock()
		close(exited)
	}()
	for {
		if _, err := os.Stat(apiFile); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("node %d exited while starting (see %s)", d.I, d.Log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// Signal sends sig to the daemon; expectExit says the signal will end it.
func (d *Daemon) Signal(sig syscall.Signal, expectExit bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return fmt.Errorf("node %d: not running", d.I)
	}
	if expectExit {
		d.expect = true
	}
	return d.cmd.Process.Signal(sig)
}

// Kill ends the daemon with SIGKILL and waits for it.
func (d *Daemon) Kill() error {
	if err := d.Signal(syscall.SIGKILL, true); err != nil {
		return err
	}
	d.wait(10 * time.Second)
	return nil
}

// Stop ends the daemon cleanly (SIGTERM; SIGKILL after 15 s) and reports
// a non-zero exit of a clean stop as a crash.
func (d *Daemon) Stop() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGCONT) // a frozen daemon cannot stop
	d.Signal(syscall.SIGTERM, true)
	if !d.wait(15 * time.Second) {
		d.mu.Lock()
		d.crashes = append(d.crashes, fmt.Sprintf("node %d did not stop within 15s of SIGTERM", d.I))
		d.mu.Unlock()
		cmd.Process.Signal(syscall.SIGKILL)
		d.wait(10 * time.Second)
		return
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		d.mu.Lock()
		d.crashes = append(d.crashes, fmt.Sprintf("node %d exited %d on SIGTERM", d.I, code))
		d.mu.Unlock()
	}
}

func (d *Daemon) wait(within time.Duration) bool {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	select {
	case <-exited:
		return true
	case <-time.After(within):
		return false
	}
}

// Crashes lists the daemon's unasked-for exits, and panics in its log.
func (d *Daemon) Crashes() []string {
	d.mu.Lock()
	out := append([]string(nil), d.crashes...)
	d.mu.Unlock()
	if b, err := os.ReadFile(d.Log); err == nil {
		for _, marker := range []string{"panic:", "fatal error:", "DATA RACE"} {
			if i := bytes.Index(b, []byte(marker)); i >= 0 {
				end := min(len(b), i+300)
				out = append(out, fmt.Sprintf("node %d log: %s", d.I, b[i:end]))
			}
		}
	}
	return out
}

// Pid is the daemon's process ID (0 when not running).
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Segment is the largest segment file of the daemon's block store, for
// bitrot.
func (d *Daemon) Segment() (string, error) {
	matches, err := filepath.Glob(filepath.Join(d.Repo, "blocks", "*.seg"))
	if err != nil || len(matches) == 0 {
		return "", errors.Join(err, fmt.Errorf("node %d: no segment file", d.I))
	}
	best, size := "", int64(-1)
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Size() > size {
			best, size = m, fi.Size()
		}
	}
	return best, nil
}
