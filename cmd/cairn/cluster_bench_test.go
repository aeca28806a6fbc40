package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

// rssKiB reads a process's resident set from /proc.
// cpuSeconds is the user and system CPU pid has used (/proc/PID/stat,
// in clock ticks of 1/100 s).
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name may hold spaces: the fields count from its ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return float64(utime+stime) / 100
}

func rssKiB(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkDaemonWith100kPins gives two daemons 100,000 pins: one-block
// roots imported on the first (four CARs of 25,000 roots: a CAR header
// holds at most 1 MiB of roots), replication off, so the second holds the
// pin set alone. It times `cairn pin ls --json` and `cairn status` on the
// first through the API right after the import (while the second is
// still merging the set and both index it), `pin ls` again once the
// second has every pin, and reports each daemon's resident memory before
// and after.
func BenchmarkDaemonWith100kPins(b *testing.B) {
	const pins, perCAR = 100_000, 25_000
	for range b.N {
		var dirs []string
		var pids []int
		for i := range 2 {
			dir := newRepo(b)
			mustCairn(b, dir, nil, "config", "Replication.WriteQuorum", "1")
			mustCairn(b, dir, nil, "config", "Replication.Factor", "1")
			var extra []string
			if i > 0 {
				extra = []string{"--bootstrap", daemonID(b, dirs[0]).Addresses[0]}
			}
			pids = append(pids, startDaemon(b, dir, extra...).Process.Pid)
			dirs = append(dirs, dir)
		}
		before := []int64{rssKiB(b, pids[0]), rssKiB(b, pids[1])}
		start := time.Now()
		for part := range pins / perCAR {
			var roots []cid.Cid
			var blocks []carBlock
			for i := range perCAR {
				data := binary.BigEndian.AppendUint64(nil, uint64(part*perCAR+i))
				c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
				if err != nil {
					b.Fatal(err)
				}
				roots = append(roots, c)
				blocks = append(blocks, carBlock{c: c, data: data})
			}
			mustCairn(b, dirs[0], nil, "dag", "import", writeCAR(b, roots, blocks))
		}
		imported := time.Since(start)
		lsStart := time.Now()
		out := mustCairn(b, dirs[0], nil, "pin", "ls", "--json").stdout
		ls := time.Since(lsStart)
		var list []gateway.PinInfo
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != pins {
			b.Fatalf("pin ls --json listed %d pins (%v), want %d", len(list), err, pins)
		}
		stStart := time.Now()
		mustCairn(b, dirs[0], nil, "status")
		status := time.Since(stStart)
		// Again, the set unchanged: the totals are not counted again.
		stStart = time.Now()
		mustCairn(b, dirs[0], nil, "status")
		statusAgain := time.Since(stStart)
		// The second daemon has the set once its status counts them all.
		for {
			var st gateway.ClusterStatus
			if err := json.Unmarshal([]byte(mustCairn(b, dirs[1], nil, "status", "--json").stdout), &st); err != nil {
				b.Fatal(err)
			}
			if st.Pins.Count == pins {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("the second daemon has %d of %d pins after 10 minutes", st.Pins.Count, pins)
			}
			time.Sleep(time.Second) // poll interval
		}
		synced := time.Since(start)
		lsStart = time.Now()
		mustCairn(b, dirs[0], nil, "pin", "ls", "--json")
		lsAfter := time.Since(lsStart)
		// Idle, the set still: the CPU each daemon uses over three of
		// the console's samples (every 10 s, each asking the totals).
		idle := 30 * time.Second
		cpu0 := []float64{cpuSeconds(b, pids[0]), cpuSeconds(b, pids[1])}
		time.Sleep(idle) // a measurement window, not a wait for an event
		for i, pid := range pids {
			b.ReportMetric(100*(cpuSeconds(b, pid)-cpu0[i])/idle.Seconds(), fmt.Sprintf("%%cpu-idle-%d", i))
		}
		b.ReportMetric(imported.Seconds(), "s-import")
		b.ReportMetric(lsAfter.Seconds(), "s-pin-ls-synced")
		b.ReportMetric(ls.Seconds(), "s-pin-ls")
		b.ReportMetric(status.Seconds(), "s-status")
		b.ReportMetric(statusAgain.Seconds(), "s-status-again")
		b.ReportMetric(synced.Seconds(), "s-second-has-all")
		b.ReportMetric(float64(before[0])/1024, "MiB-rss-before")
		b.ReportMetric(float64(rssKiB(b, pids[0]))/1024, "MiB-rss-after")
		b.ReportMetric(float64(before[1])/1024, "MiB-rss-before-set-only")
		b.ReportMetric(float64(rssKiB(b, pids[1]))/1024, "MiB-rss-after-set-only")
	}
}
