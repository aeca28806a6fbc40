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
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// benchNode starts an in-process node on loopback TCP with its own store.
func benchNode(ctx context.Context, dir string, boot ...peer.AddrInfo) (*node.Node, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, err
	}
	n, err := node.New(node.Config{
		Identity:    priv,
		Listen:      []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Bootstrap:   boot,
		Store:       s,
		FetchWindow: fetchWindow,
	})
	if err != nil {
		s.Close()
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

	var one, oneSynced, three, threeSynced, tcps, shas []float64
	for i := 0; i < runs; i++ {
		sha := shaSpeed(256 << 20)
		tcp, err := loopbackTCP(size)
		if err != nil {
			return err
		}
		a, as, err := timeFetch(ctx, filepath.Join(dir, fmt.Sprintf("one%d", i)), res.Root, size, provs[:1])
		if err != nil {
			return err
		}
		b, bs, err := timeFetch(ctx, filepath.Join(dir, fmt.Sprintf("three%d", i)), res.Root, size, provs)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: one provider %.0f MB/s (%.0f synced), three providers %.0f MB/s (%.0f synced), loopback TCP %.0f MB/s, sha2-256 %.0f MB/s\n",
			i+1, a, as, b, bs, tcp, sha)
		one, oneSynced, three, threeSynced = append(one, a), append(oneSynced, as), append(three, b), append(threeSynced, bs)
		tcps, shas = append(tcps, tcp), append(shas, sha)
	}
	sha := median(shas)
	verdict := "MET"
	if median(one) < 0.75*sha {
		verdict = "NOT MET"
	}
	fmt.Printf(`
fetch of a %d MiB file between in-process nodes over loopback TCP (TLS, yamux), median of %d,
timed from Fetch until it returns (every block verified and in the store);
in brackets, until the store has also fsynced it all:
  one provider              %7.0f MB/s   %.2fx sha2-256   (%.0f MB/s synced)
  three providers           %7.0f MB/s   %.2fx sha2-256   (%.0f MB/s synced)
  loopback TCP (one stream) %7.0f MB/s
  sha2-256, one core        %7.0f MB/s
  target: one provider >= 0.75x sha2-256 = %.0f MB/s: %s
`, size>>20, runs, median(one), median(one)/sha, median(oneSynced), median(three), median(three)/sha, median(threeSynced),
		median(tcps), sha, 0.75*sha, verdict)
	return nil
}

var fetchWindow = 4

// fetchProfile, if set, receives a CPU profile of the one-provider fetches.
var fetchProfile string

// timeFetch returns the MB/s of a fetch until it returns (every block
// verified and in the store) and until the store has fsynced it all.
func timeFetch(ctx context.Context, dir string, root cid.Cid, size int64, provs []*node.Node) (float64, float64, error) {
	f, err := benchNode(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var ids []peer.ID
	for _, p := range provs {
		if err := f.Connect(ctx, p.AddrInfo()); err != nil {
			return 0, 0, err
		}
		ids = append(ids, p.ID())
	}
	if fetchProfile != "" && len(provs) == 1 {
		pf, err := os.Create(fetchProfile)
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
	if err := f.Store().Sync(); err != nil {
		return 0, 0, err
	}
	synced := time.Since(start)
	return float64(size) / 1e6 / fetched.Seconds(), float64(size) / 1e6 / synced.Seconds(), nil
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
