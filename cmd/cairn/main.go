// Command cairn is cairn's one binary: the CLI, the daemon and its HTTP
// gateway. Every verb lives in a file of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status; tests call
// it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The first SIGINT/SIGTERM cancels the command, which stops at the next
	// block and cleans up; restoring the default handler then lets a second
	// one kill it outright.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ex exitError
		if !errors.As(err, &ex) || ex.msg != "" {
			fmt.Fprintf(stderr, "Error: %v\n", err)
		}
		if errors.As(err, &ex) {
			return ex.code
		}
		return 1
	}
	return 0
}

// exitError ends a command with a given status, for commands whose failure
// was already reported (repo verify lists what failed).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "cairn: a peer-to-peer, content-addressed store",
		Long: `cairn keeps files as content-addressed blocks, with the same CIDs IPFS gives them.

The repo is $CAIRN_PATH (default ~/.cairn); --repo overrides it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("repo", "", "repo directory (default $CAIRN_PATH or ~/.cairn)")
	root.AddCommand(
		newInitCmd(),
		newAddCmd(),
		newCatCmd(),
		newLsCmd(),
		newDagCmd(),
		newGetCmd(),
		newStatCmd(),
		newConfigCmd(),
		newRepoCmd(),
		newVersionCmd(),
		newDaemonCmd(),
		newIDCmd(),
		newSwarmCmd(),
		newBootstrapCmd(),
		newDHTCmd(),
		newPinCmd(),
		newStatusCmd(),
		newDrainCmd(),
	)
	return root
}
