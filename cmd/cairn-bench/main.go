// Command cairn-bench measures `cairn add` on a large random file against
// this machine's own yardsticks, taken in the same run: single-core
// sha2-256 speed and sequential disk write speed with fdatasync. The
// machine's speed drifts from minute to minute, so the three measurements
// are interleaved, repeated, and compared as medians and ratios.
//
// Usage: cairn-bench -run add,transfer,provide,gateway -cairn bin/cairn [-size N] [-runs 3] [-dir DIR]
//
//   - add: `cairn add` of a random file, against sha2-256 and disk speed;
//   - transfer: fetching a file between in-process nodes over loopback TCP,
//     from one provider and from three, against loopback TCP throughput
//     and sha2-256;
//   - provide: announcing the blocks of a 1 GiB file in a 20-node network;
//   - daemons: `cairn get -o` between real daemons on loopback, from one
//     provider daemon and from three, against the in-process fetch;
//   - readafter: add of a file through a daemon's API, then its first and
//     second GET, for each page-cache policy of the store;
//   - gateway: the HTTP gateway of one in-process node over loopback, with
//     many small objects on keep-alive connections (req/s, for -duration)
//     and one object of -size bytes per fresh connection (TTFB and MB/s);
//     gateway-small and gateway-large run one half.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	cairn := flag.String("cairn", "bin/cairn", "the cairn binary to measure")
	size := flag.Int64("size", 1<<30, "bytes of the random file to add")
	runs := flag.Int("runs", 3, "rounds of each measurement")
	dir := flag.String("dir", "", "scratch directory (default: a temporary one)")
	what := flag.String("run", "add", "comma-separated: add, addtree, transfer, provide, million, daemons, readafter, gateway (gateway-small, gateway-large)")
	files := flag.Int("files", 1_000_000, "files of the million bench's folder")
	keys := flag.Int("keys", 4096, "blocks announced in the provide bench")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	flag.IntVar(&fetchWindow, "window", 0, "wants in flight per provider in the transfer bench (0: the node's default)")
	flag.BoolVar(&viaGateway, "gateway-get", false, "in the daemons bench, read through the fetching daemon's gateway instead of cairn get -o")
	flag.BoolVar(&splitFetch, "split", false, "in the daemons bench, also time the in-process fetcher fetching from a provider daemon")
	flag.BoolVar(&viaPin, "pin-get", false, "in the daemons bench, pin the file on the fetching daemon (fetch only) instead of cairn get -o")
	flag.StringVar(&daemonProfile, "daemonprofile", "", "write CPU profiles of the fetching daemons of the daemons bench to PREFIX.1 and PREFIX.3")
	flag.StringVar(&daemonTrace, "daemontrace", "", "write execution traces of the fetching daemons of the daemons bench to PREFIX.1 and PREFIX.3")
	flag.StringVar(&fetchProfile, "fetchprofile", "", "write CPU profiles of the timed fetches to PREFIX.one and PREFIX.three")
	flag.DurationVar(&gwDuration, "duration", gwDuration, "length of each small-object round of the gateway bench")
	flag.IntVar(&gwWorkers, "workers", gwWorkers, "load workers (one keep-alive connection each) in the gateway bench")
	flag.StringVar(&gwProfile, "gatewayprofile", "", "write CPU profiles of the timed gateway load to PREFIX.small and PREFIX.large")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cairn-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	tmp := "" // removed on every exit, the error ones included
	if *dir == "" {
		d, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "cairn-bench:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir, tmp = d, d
	}
	for _, w := range strings.Split(*what, ",") {
		var err error
		switch w {
		case "add":
			err = run(*cairn, *size, *runs, *dir)
		case "addtree":
			err = runAddTree(*cairn, *runs, *dir)
		case "transfer":
			err = runTransfer(*size, *runs, *dir)
		case "provide":
			err = runProvide(*dir, *keys)
		case "million":
			err = runMillion(*cairn, *files, *dir)
		case "daemons":
			err = runDaemons(*cairn, *size, *runs, *dir)
		case "readafter":
			err = runReadAfter(*cairn, *size, *runs, *dir)
		case "gateway", "gateway-small", "gateway-large":
			err = runGateway(w != "gateway-large", w != "gateway-small", *size, *runs, *dir)
		default:
			err = fmt.Errorf("unknown benchmark %q", w)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cairn-bench:", err)
			pprof.StopCPUProfile()
			if tmp != "" {
				os.RemoveAll(tmp)
			}
			os.Exit(1)
		}
	}
}

type addRun struct {
	seconds float64
	maxRSS  int64 // bytes
}

func run(cairn string, size int64, runs int, dir string) error {
	bin, err := filepath.Abs(cairn)
	if err != nil {
		return err
	}
	input := filepath.Join(dir, "input")
	fmt.Printf("writing %d MiB of random input...\n", size>>20)
	if err := writeRandom(input, size); err != nil {
		return err
	}

	var shas, disks, adds []float64
	var rss []int64
	for i := 0; i < runs; i++ {
		sha := shaSpeed(256 << 20)
		disk, err := diskSpeed(filepath.Join(dir, "ddtest"), size)
		if err != nil {
			return err
		}
		a, err := timeAdd(bin, filepath.Join(dir, fmt.Sprintf("repo%d", i)), input)
		if err != nil {
			return err
		}
		mbps := float64(size) / 1e6 / a.seconds
		fmt.Printf("round %d: sha2-256 %.0f MB/s, disk %.0f MB/s, add %.0f MB/s (%.2fs, peak RSS %d MiB)\n",
			i+1, sha, disk, mbps, a.seconds, a.maxRSS>>20)
		shas, disks, adds = append(shas, sha), append(disks, disk), append(adds, mbps)
		rss = append(rss, a.maxRSS)
	}
	sha, disk, add := median(shas), median(disks), median(adds)
	target := min(1.4*sha, 0.8*disk)
	var peak int64
	for _, r := range rss {
		peak = max(peak, r)
	}
	verdict := verdictOf(add, target)
	fmt.Printf(`
add of a %d MiB random file, median of %d (timed until the add's own fsync returns):
  cairn add                 %7.0f MB/s
  sha2-256, one core        %7.0f MB/s   add/sha  = %.2fx
  disk write + fdatasync    %7.0f MB/s   add/disk = %.2fx
  target min(1.4x sha, 0.8x disk) = %.0f MB/s: %s
  peak RSS of cairn add     %7d MiB  (limit 128 MiB)
`, size>>20, runs, add, sha, add/sha, disk, add/disk, target, verdict, peak>>20)
	return nil
}

// verdictOf says whether a measured figure reached its target.
func verdictOf(got, target float64) string {
	if got < target {
		return "NOT MET"
	}
	return "MET"
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shaSpeed hashes n bytes on one goroutine, in the 256 KiB pieces add hashes.
func shaSpeed(n int) float64 {
	buf := make([]byte, 256<<10)
	rand.Read(buf)
	start := time.Now()
	for done := 0; done < n; done += len(buf) {
		sha256.Sum256(buf)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

// diskSpeed writes size bytes sequentially in 1 MiB writes and fdatasyncs,
// as `dd bs=1M conv=fdatasync` does.
func diskSpeed(path string, size int64) (float64, error) {
	return writeSpeed(path, size, 1<<20, size)
}

// writeSpeed times writing size bytes to a new file in pieces of piece
// bytes with an fdatasync every commitEvery bytes and at the end. With
// more than one commit it drops the committed pages from the page cache,
// as the store does (store.Options.KeepWrittenCache).
func writeSpeed(path string, size int64, piece int, commitEvery int64) (float64, error) {
	buf := make([]byte, piece)
	rand.Read(buf)
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	fd := int(f.Fd())
	start := time.Now()
	var committed int64
	for done := int64(0); done < size; {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		done += int64(len(buf))
		if done-committed >= commitEvery || done >= size {
			if err := unix.Fdatasync(fd); err != nil {
				return 0, err
			}
			if commitEvery < size {
				_ = unix.Fadvise(fd, committed, done-committed, unix.FADV_DONTNEED)
			}
			committed = done
		}
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}

// timeAdd initialises a fresh repo and times `cairn add` from start to
// exit; add returns only after its own fsync.
func timeAdd(bin, repo string, args ...string) (addRun, error) {
	env := append(os.Environ(), "CAIRN_PATH="+repo)
	initCmd := exec.Command(bin, "init")
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return addRun{}, fmt.Errorf("cairn init: %v: %s", err, out)
	}
	defer os.RemoveAll(repo)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"add"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return addRun{}, fmt.Errorf("cairn add: %v: %s", err, stderr.String())
	}
	secs := time.Since(start).Seconds()
	if !strings.HasPrefix(stdout.String(), "baf") {
		return addRun{}, fmt.Errorf("cairn add printed %q", stdout.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return addRun{seconds: secs, maxRSS: ru.Maxrss << 10}, nil
}
