package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func isatty(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progress shows a byte progress bar on stderr, but only when stderr is a
// terminal and the work has lasted long enough to be worth watching; short
// commands and scripts see nothing.
type progress struct {
	w       io.Writer
	enabled bool
	total   int64 // -1 when unknown (stdin)
	desc    string
	start   time.Time
	bar     *progressbar.ProgressBar
}

const progressDelay = 500 * time.Millisecond

func newProgress(stderr io.Writer, total int64, desc string) *progress {
	return &progress{w: stderr, enabled: isTerminal(stderr), total: total, desc: desc, start: time.Now()}
}

// Set reports how many bytes are done.
func (p *progress) Set(done int64) {
	if p == nil || !p.enabled {
		return
	}
	if p.bar == nil {
		if time.Since(p.start) < progressDelay {
			return
		}
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(true),
		)
	}
	p.bar.Set64(done)
}

// Describe changes the words before the bar.
func (p *progress) Describe(desc string) {
	if p == nil || !p.enabled {
		return
	}
	p.desc = desc
	if p.bar != nil {
		p.bar.Describe(desc)
	}
}

// Done clears the bar.
func (p *progress) Done() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
		p.bar.Exit()
	}
}
