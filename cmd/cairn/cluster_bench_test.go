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

// BenchmarkDaemonWith100kPins imports 100,000 one-block roots into a
// daemon's pin set (four CARs of 25,000 roots: a CAR header holds at most
// 1 MiB of roots), then times `cairn pin ls --json` and `cairn status`
// through the API and reports the daemon's resident memory before and
// after.
func BenchmarkDaemonWith100kPins(b *testing.B) {
	const pins, perCAR = 100_000, 25_000
	for range b.N {
		dir := newRepo(b)
		d := startDaemon(b, dir)
		before := rssKiB(b, d.Process.Pid)
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
			mustCairn(b, dir, nil, "dag", "import", writeCAR(b, roots, blocks))
		}
		imported := time.Since(start)
		lsStart := time.Now()
		out := mustCairn(b, dir, nil, "pin", "ls", "--json").stdout
		ls := time.Since(lsStart)
		var list []gateway.PinInfo
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != pins {
			b.Fatalf("pin ls --json listed %d pins (%v), want %d", len(list), err, pins)
		}
		stStart := time.Now()
		mustCairn(b, dir, nil, "status")
		status := time.Since(stStart)
		after := rssKiB(b, d.Process.Pid)
		b.ReportMetric(imported.Seconds(), "s-import")
		b.ReportMetric(ls.Seconds(), "s-pin-ls")
		b.ReportMetric(status.Seconds(), "s-status")
		b.ReportMetric(float64(before)/1024, "MiB-rss-before")
		b.ReportMetric(float64(after)/1024, "MiB-rss-after")
	}
}
