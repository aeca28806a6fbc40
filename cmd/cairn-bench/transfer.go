package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node"
	"github.com/cairnstore/cairn/node/nodetest"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// benchNode starts an in-process node on loopback TCP with its own repo
// in dir.
func benchNode(ctx context.Context, dir string, boot ...peer.AddrInfo) (*node.Node, error) {
	n, err := nodetest.Open(dir, node.WithBootstrap(boot...),
		node.WithConfig(func(c *node.Config) { c.FetchWindow = fetchWindow }))
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// runTransfer times Fetch of a random file between nodes: from the call
// until every block is verified, stored and synced (Fetch returns after
// the store's Sync), with a fresh fetcher each round.
func runTransfer(size int64, runs int, dir string) error {
	ctx := context.Background()
	var provs []*node.Node
	defer func() {
		for _, p := range provs {
			p.Close()
		}
	}()
	first, err := benchNode(ctx, filepath.Join(dir, "prov0"))
	if err != nil {
		return err
	}
	provs = append(provs, first)
	fmt.Printf("adding %d MiB of random data on the first provider...\n", size>>20)
	res, err := first.Add(ctx, io.LimitReader(rand.Reader, size), chunk.AddOptions{})
	if err != nil {
		return err
	}
	for i := 1; i < 3; i++ {
		p, err := benchNode(ctx, filepath.Join(dir, fmt.Sprintf("prov%d", i)), first.AddrInfo())
		if err != nil {
			return err
		}
		provs = append(provs, p)
		if err := p.Fetch(ctx, res.Root, node.FetchOptions{Providers: []peer.ID{first.ID()}}); err != nil {
			return err
		}
	}

	var one, oneSynced, three, threeSynced, tcps, shas, writes, disks, streams, streamCPUs []float64
	for i := 0; i < runs; i++ {
		sha := shaSpeed(256 << 20)
		tcp, err := loopbackTCP(size)
		if err != nil {
			return err
		}
		// The fetcher's store writes every byte once: the same writes
		// (256 KiB, a commit every 64 MiB) bound it.
		wr, err := writeSpeed(filepath.Join(dir, "writetest"), size, 256<<10, 64<<20)
		if err != nil {
			return err
		}
		disk, err := diskSpeed(filepath.Join(dir, "ddtest"), size)
		if err != nil {
			return err
		}
		stream, streamCPU, err := libp2pStream(ctx, filepath.Join(dir, fmt.Sprintf("sink%d", i)), first, size)
		if err != nil {
			return err
		}
		// This VM's page cache is slower for pages it has not touched
		// for a while, so the order of the two fetches alternates.
		var a, as, b, bs float64
		oneFetch := func() (err error) {
			a, as, err = timeFetch(ctx, filepath.Join(dir, fmt.Sprintf("one%d", i)), res.Root, size, provs[:1])
			return err
		}
		threeFetch := func() (err error) {
			b, bs, err = timeFetch(ctx, filepath.Join(dir, fmt.Sprintf("three%d", i)), res.Root, size, provs)
			return err
		}
		order := []func() error{oneFetch, threeFetch}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, f := range order {
			if err := f(); err != nil {
				return err
			}
		}
		fmt.Printf("round %d: one provider %.0f MB/s (%.0f synced), three providers %.0f MB/s (%.0f synced), loopback TCP %.0f MB/s, libp2p stream %.0f MB/s (%.2f CPU-s/GB), sha2-256 %.0f MB/s, file write %.0f MB/s, disk %.0f MB/s\n",
			i+1, a, as, b, bs, tcp, stream, streamCPU, sha, wr, disk)
		one, oneSynced, three, threeSynced = append(one, a), append(oneSynced, as), append(three, b), append(threeSynced, bs)
		tcps, shas, writes, disks = append(tcps, tcp), append(shas, sha), append(writes, wr), append(disks, disk)
		streams, streamCPUs = append(streams, stream), append(streamCPUs, streamCPU)
	}
	// What any fetch between two nodes on this machine's two cores must
	// spend per byte: the transport (both ends), one hash, one write.
	perGB := median(streamCPUs) + 1e3/median(shas) + 1e3/median(writes)
	ceiling := 2 * 1e3 / perGB
	sha := median(shas)
	verdict := verdictOf(median(one), 0.75*sha)
	fmt.Printf(`
fetch of a %d MiB file between in-process nodes over loopback TCP (TLS, yamux), median of %d,
timed from Fetch until it returns (every block verified and in the store);
in brackets, until the store has also fsynced it all:
  one provider              %7.0f MB/s   %.2fx sha2-256   (%.0f MB/s synced)
  three providers           %7.0f MB/s   %.2fx sha2-256   (%.0f MB/s synced)
  loopback TCP (one stream) %7.0f MB/s
  libp2p stream, same hosts %7.0f MB/s   (TLS, yamux, TCP; no hashing, no store; %.2f CPU-seconds per GB)
  sha2-256, one core        %7.0f MB/s
  store-like file write     %7.0f MB/s   (256 KiB writes, fdatasync every 64 MiB: the store's writes alone)
  disk write + fdatasync    %7.0f MB/s
  two-core ceiling          %7.0f MB/s   (2 cores / CPU per byte of stream + sha2-256 + file write)
  target: one provider >= 0.75x sha2-256 = %.0f MB/s: %s
`, size>>20, runs, median(one), median(one)/sha, median(oneSynced), median(three), median(three)/sha, median(threeSynced),
		median(tcps), median(streams), median(streamCPUs), sha, median(writes), median(disks), ceiling, 0.75*sha, verdict)
	return nil
}

var fetchWindow int // 0: node.Config's default

// fetchProfile, if set, is the prefix of CPU profiles of the timed
// fetches: PREFIX.one and PREFIX.three (the last round of each).
var fetchProfile string

// timeFetch returns the MB/s of a fetch until it returns (every block
// verified and in the store) and until the store has fsynced it all.
func timeFetch(ctx context.Context, dir string, root cid.Cid, size int64, provs []*node.Node) (float64, float64, error) {
	infos := make([]peer.AddrInfo, len(provs))
	for i, p := range provs {
		infos[i] = p.AddrInfo()
	}
	return timeFetchFrom(ctx, dir, root, size, infos)
}

// timeFetchFrom is timeFetch from providers that may live in other
// processes.
func timeFetchFrom(ctx context.Context, dir string, root cid.Cid, size int64, provs []peer.AddrInfo) (float64, float64, error) {
	f, err := benchNode(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var ids []peer.ID
	for _, p := range provs {
		if err := f.Connect(ctx, p); err != nil {
			return 0, 0, err
		}
		ids = append(ids, p.ID)
	}
	if fetchProfile != "" {
		name := fetchProfile + ".one"
		if len(provs) > 1 {
			name = fetchProfile + ".three"
		}
		pf, err := os.Create(name)
		if err != nil {
			return 0, 0, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return 0, 0, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := f.Fetch(ctx, root, node.FetchOptions{Providers: ids}); err != nil {
		return 0, 0, err
	}
	fetched := time.Since(start)
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	synced := time.Since(start)
	return float64(size) / 1e6 / fetched.Seconds(), float64(size) / 1e6 / synced.Seconds(), nil
}

// sinkProtocol is the bench's own protocol: the receiver reads and drops.
const sinkProtocol = "/cairn-bench/sink/1.0.0"

// libp2pStream sends size bytes from a fresh node to to over one libp2p
// stream, as the block exchange's transport carries them, and returns the
// MB/s and the process's CPU-seconds (user and system) per GB.
func libp2pStream(ctx context.Context, dir string, to *node.Node, size int64) (float64, float64, error) {
	from, err := benchNode(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer from.Close()
	got := make(chan error, 1)
	to.Host().SetStreamHandler(sinkProtocol, func(s network.Stream) {
		n, err := io.Copy(io.Discard, s)
		if err == nil && n != size {
			err = fmt.Errorf("sink got %d of %d bytes", n, size)
		}
		s.Close()
		got <- err
	})
	defer to.Host().RemoveStreamHandler(sinkProtocol)
	if err := from.Connect(ctx, to.AddrInfo()); err != nil {
		return 0, 0, err
	}
	s, err := from.Host().NewStream(ctx, to.ID(), sinkProtocol)
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, 256<<10)
	rand.Read(buf)
	cpu0, start := cpuTime(), time.Now()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := s.Write(buf); err != nil {
			s.Reset()
			return 0, 0, err
		}
	}
	if err := s.CloseWrite(); err != nil {
		return 0, 0, err
	}
	if err := <-got; err != nil {
		return 0, 0, err
	}
	took, cpu := time.Since(start), cpuTime()-cpu0
	return float64(size) / 1e6 / took.Seconds(), cpu.Seconds() / (float64(size) / 1e9), nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopbackTCP measures one TCP stream over 127.0.0.1.
func loopbackTCP(size int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	start := time.Now()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}
