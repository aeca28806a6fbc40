package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Net is a private network of namespaces: one holding a bridge, one per
// node, and one for the harness's clients, each attached to the bridge by
// a veth pair made directly between the two namespaces, so nothing is
// added to the machine's own network namespace. Addresses are 10.77.0.i+1
// for node i and 10.77.255.1 for the clients, on 10.77.0.0/16 with no
// other route: no packet can leave.
type Net struct {
	prefix string // of every namespace name: cairn-tn-<id>-
	nodes  int
	made   []string // namespaces created, to delete
}

// ClientAddr is the clients' address.
const ClientAddr = "10.77.255.1"

// NodeAddr is node i's address.
func NodeAddr(i int) string { return fmt.Sprintf("10.77.%d.%d", (i+1)/256, (i+1)%256) }

func (n *Net) bridgeNS() string    { return n.prefix + "br" }
func (n *Net) clientNS() string    { return n.prefix + "client" }
func (n *Net) NodeNS(i int) string { return n.prefix + fmt.Sprintf("n%d", i) }
func (n *Net) port(i int) string   { return fmt.Sprintf("p%d", i) } // node i's veth end on the bridge

func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Available says whether this process can make network namespaces (root,
// the ip tool), and why not.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("no ip tool (iproute2)")
	}
	return nil
}

// NewNet makes the namespaces of a network of nodes, named after id.
// On error, whatever was made is deleted.
func NewNet(ctx context.Context, id string, nodes int) (*Net, error) {
	if nodes < 1 || nodes > 250 {
		return nil, fmt.Errorf("testnet: %d nodes: want 1 to 250", nodes)
	}
	n := &Net{prefix: "cairn-tn-" + id + "-", nodes: nodes}
	if err := n.build(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Net) addNS(ctx context.Context, name string) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	n.made = append(n.made, name)
	return ip(ctx, "-n", name, "link", "set", "lo", "up")
}

func (n *Net) build(ctx context.Context) error {
	br := n.bridgeNS()
	if err := n.addNS(ctx, br); err != nil {
		return err
	}
	if err := ip(ctx, "-n", br, "link", "add", "br0", "type", "bridge"); err != nil {
		return err
	}
	if err := ip(ctx, "-n", br, "link", "set", "br0", "up"); err != nil {
		return err
	}
	attach := func(ns, port, addr string) error {
		if err := n.addNS(ctx, ns); err != nil {
			return err
		}
		steps := [][]string{
			{"-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"-n", br, "link", "set", port, "master", "br0", "up"},
			{"-n", ns, "addr", "add", addr + "/16", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range n.nodes {
		if err := attach(n.NodeNS(i), n.port(i), NodeAddr(i)); err != nil {
			return err
		}
	}
	return attach(n.clientNS(), "pc", ClientAddr)
}

// Close deletes the namespaces, and with them their links and routes.
// Processes must be gone first (a namespace lives on while a process
// is in it, unnamed).
func (n *Net) Close() error {
	var errs []error
	for i := len(n.made) - 1; i >= 0; i-- {
		if err := ip(context.Background(), "netns", "del", n.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.made = nil
	return errors.Join(errs...)
}

// Namespaces lists the namespaces of any network whose id starts with
// prefix (the test of a clean teardown uses it).
func Namespaces(prefix string) ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "cairn-tn-"+prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// SetLink cuts node i off the bridge (up false) or joins it again: its
// packets are dropped silently, as when a cable is pulled, and its
// connections stay open until they time out.
func (n *Net) SetLink(ctx context.Context, i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip(ctx, "-n", n.bridgeNS(), "link", "set", n.port(i), state)
}

// Partition cuts every node of a off from every node of b, both ways
// (blackhole routes in each node's namespace), while both keep their
// links to the bridge and the clients; Heal undoes it.
func (n *Net) Partition(ctx context.Context, a, b []int) error {
	return n.routes(ctx, "add", a, b)
}

// Heal removes the routes a Partition of a and b added.
func (n *Net) Heal(ctx context.Context, a, b []int) error {
	return n.routes(ctx, "del", a, b)
}

func (n *Net) routes(ctx context.Context, op string, a, b []int) error {
	var errs []error
	for _, x := range a {
		for _, y := range b {
			for _, p := range [][2]int{{x, y}, {y, x}} {
				if err := ip(ctx, "-n", n.NodeNS(p[0]), "route", op, "blackhole", NodeAddr(p[1])+"/32"); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Routes lists node i's routing table, for the check that nothing can
// leave the network.
func (n *Net) Routes(ctx context.Context, i int) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", n.NodeNS(i), "route", "show", "table", "all").Output()
	return string(out), err
}

// Command runs name with args in node i's namespace.
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.NodeNS(i), name}, args...)...)
}

// DialContext dials from the clients' namespace: the socket is made on an
// OS thread moved into it, and stays there once the thread moves back.
func (n *Net) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, restored, err := n.dialIn(ctx, network, addr)
		if restored {
			runtime.UnlockOSThread()
		} // else the thread is left locked, and Go ends it with the goroutine
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// dialIn dials from the clients' namespace on the calling (locked)
// thread; restored says the thread is back in its own namespace.
func (n *Net) dialIn(ctx context.Context, network, addr string) (c net.Conn, restored bool, err error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("testnet: own namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + n.clientNS())
	if err != nil {
		return nil, true, fmt.Errorf("testnet: clients' namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("testnet: enter the clients' namespace: %w", err)
	}
	c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
	return c, unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil, err
}
