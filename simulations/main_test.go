package simulations

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

var (
	fullRun   = flag.Bool("sim", false, "run the full scenarios (make sim) instead of the small ones")
	reportDir = flag.String("report", "", "write the report of the scenarios run here")
	seedFlag  = flag.Int64("seed", 1, "seed of every random choice")
)

// report gathers what the scenarios measured; TestMain writes it.
var report = &Report{}

func TestMain(m *testing.M) {
	flag.Parse()
	report.Seed = *seedFlag
	report.Full = *fullRun
	report.Date = time.Now().UTC().Format("2006-01-02")
	start := time.Now()
	code := m.Run()
	report.Took = time.Since(start)
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		report.MaxRSS = ru.Maxrss << 10 // Linux reports KiB
	}
	if *reportDir != "" && code == 0 {
		if err := report.Write(*reportDir); err != nil {
			fmt.Fprintln(os.Stderr, "simulations: report:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// scale picks the small or the full value of a scenario parameter.
func scale[T any](small, full T) T {
	if *fullRun {
		return full
	}
	return small
}

// newNetwork starts an empty network for t, torn down when t ends.
func newNetwork(t *testing.T, opts Options) *Network {
	t.Helper()
	opts.Dir = t.TempDir()
	if opts.Seed == 0 {
		opts.Seed = *seedFlag
	}
	nw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Logf("close network: %v", err)
		}
	})
	return nw
}
