// Command cairn-testnet runs cairn daemons in network namespaces of their
// own (package simulations/testnet): `up` starts a testnet and keeps it
// until interrupted; `chaos` runs the workload under a seeded fault
// schedule and writes the report. It needs root; everything it makes is
// removed when it ends, interrupted or not.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cairnstore/cairn/simulations/testnet"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("cairn-testnet", flag.ContinueOnError)
	bin := fs.String("cairn", "bin/cairn", "the cairn binary")
	nodes := fs.Int("n", 7, "nodes")
	id := fs.String("id", "", "names the namespaces (default: the process ID)")
	dir := fs.String("dir", "", "where disks and logs go (default: a temporary directory, removed at the end)")
	disk := fs.Int64("disk", 256<<20, "bytes of each node's tmpfs")
	seed := fs.Int64("seed", 1, "the fault schedule's seed")
	length := fs.Duration("length", 5*time.Minute, "the fault schedule's length")
	freeze := fs.Duration("freeze", time.Minute, "the first fault's freeze")
	report := fs.String("report", "simulations/testnet/report", "where chaos writes its report")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cairn-testnet [flags] up|chaos")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "up" && fs.Arg(0) != "chaos") {
		fs.Usage()
		return 2
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := testnet.Up(ctx, testnet.Config{Bin: abs, Nodes: *nodes, ID: *id, Dir: *dir, DiskSize: *disk})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn-testnet:", err)
		return 1
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "cairn-testnet: teardown:", err)
		}
	}()
	for _, d := range c.Daemons {
		fmt.Printf("node %d: %s (API and gateway %s), repo %s, log %s\n", d.I, d.Swarm, d.API, d.Repo, d.Log)
	}
	if fs.Arg(0) == "up" {
		fmt.Println("testnet ready; enter a node with `ip netns exec <namespace> ...`; Ctrl-C tears it down")
		<-ctx.Done()
		return 0
	}
	fmt.Printf("chaos: seed %d, %v schedule\n", *seed, *length)
	rep, err := testnet.Chaos(ctx, c, testnet.ChaosConfig{Seed: *seed, Length: *length, FreezeFor: *freeze})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn-testnet: chaos:", err)
		return 1
	}
	cmdline := "cairn-testnet " + strings.Join(os.Args[1:], " ")
	if err := rep.Write(*report, cmdline); err != nil {
		fmt.Fprintln(os.Stderr, "cairn-testnet: report:", err)
		return 1
	}
	fmt.Printf("report: %s\n", filepath.Join(*report, "README.md"))
	if f := rep.Failures(); len(f) > 0 {
		fmt.Println("promises broken:")
		for _, x := range f {
			fmt.Println(" -", x)
		}
		return 1
	}
	fmt.Println("every promise kept")
	return 0
}
