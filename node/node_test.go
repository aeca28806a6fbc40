package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand"
	"testing"
	"time"

	"os"
	"path/filepath"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

type nodeOpt func(*Config)

func withBootstrap(ai ...peer.AddrInfo) nodeOpt { return func(c *Config) { c.Bootstrap = ai } }
func withSwarmKey(k pnet.PSK) nodeOpt           { return func(c *Config) { c.SwarmKey = k } }

// startNode runs a real node on loopback TCP with a store in a temp dir.
func startNode(t *testing.T, opts ...nodeOpt) *Node {
	t.Helper()
	return startNodeAt(t, t.TempDir(), opts...)
}

// startNodeAt is startNode with the store in dir.
func startNodeAt(t *testing.T, dir string, opts ...nodeOpt) *Node {
	t.Helper()
	return startNodeWith(t, dir, store.Options{}, opts...)
}

func withIdentity(k crypto.PrivKey) nodeOpt { return func(c *Config) { c.Identity = k } }

// startNodeWith is startNode with the repo in dir (made there if it is
// not one yet), its store opened with sopts. It builds the node as
// nodetest does, which this package's own tests cannot import.
func startNodeWith(t testing.TB, dir string, sopts store.Options, opts ...nodeOpt) *Node {
	t.Helper()
	n := openNodeWith(t, dir, sopts, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// openNodeWith is startNodeWith without the Start.
func openNodeWith(t testing.TB, dir string, sopts store.Options, opts ...nodeOpt) *Node {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "config")); errors.Is(err, os.ErrNotExist) {
		if _, err := repo.Init(dir, repo.InitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := []Option{WithListen(ma.StringCast("/ip4/127.0.0.1/tcp/0")), WithStoreOptions(sopts), OwnRepo()}
	for _, o := range opts {
		all = append(all, Option(o))
	}
	n, err := Open(r, all...)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// link connects a to b, retrying past libp2p's dial backoff: a dial that
// raced with another (both sides dialling, or the DHT dialling) can fail
// and leave a backoff that would fail the next attempt at once.
func link(t testing.TB, a, b *Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.Connect(ctx, b.AddrInfo())
		cancel()
		if err == nil || a.Host().Network().Connectedness(b.ID()) == network.Connected {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s to %s: %v", a.ID(), b.ID(), err)
		}
		if sw, ok := a.Host().Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(b.ID())
		}
		time.Sleep(50 * time.Millisecond) // retry pause
	}
}

func randomData(t *testing.T, seed int64, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	mrand.New(mrand.NewSource(seed)).Read(b)
	return b
}

func addData(t *testing.T, n *Node, data []byte) cid.Cid {
	t.Helper()
	res, err := n.Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Root
}

func readAll(t *testing.T, n *Node, root cid.Cid) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := n.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitProvider polls n's DHT until it names want as a provider of c.
func waitProvider(t *testing.T, n *Node, c cid.Cid, want peer.ID) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		provs, _, _ := n.FindProviders(ctx, c, 0)
		cancel()
		for _, p := range provs {
			if p.ID == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Fatalf("%s never found %s as a provider of %s", n.ID(), want, c)
}

func TestFileAddedOnFirstOfFiveChainedNodesIsFetchedOnTheLast(t *testing.T) {
	var nodes []*Node
	for i := 0; i < 5; i++ {
		var opts []nodeOpt
		if i > 0 {
			opts = append(opts, withBootstrap(nodes[i-1].AddrInfo()))
		}
		nodes = append(nodes, startNode(t, opts...))
	}
	first, last := nodes[0], nodes[4]
	data := randomData(t, 1, 20<<20)
	root := addData(t, first, data)

	waitProvider(t, last, root, first.ID())
	if got := readAll(t, last, root); !bytes.Equal(got, data) {
		t.Fatalf("node 5 read %d bytes that differ from the %d added on node 1", len(got), len(data))
	}
	if res, err := last.Store().Verify(context.Background(), nil); err != nil || len(res.Failed) != 0 {
		t.Fatalf("node 5's store after the fetch: %+v, %v", res, err)
	}
}

func TestFetchCompletesWhenOneOfThreeProvidersDiesMidTransfer(t *testing.T) {
	seed := startNode(t)
	var provs []*Node
	data := randomData(t, 2, 64<<20)
	var root cid.Cid
	for i := 0; i < 3; i++ {
		p := startNode(t, withBootstrap(seed.AddrInfo()))
		root = addData(t, p, data)
		provs = append(provs, p)
	}
	fetcher := startNode(t, withBootstrap(seed.AddrInfo()))
	for _, p := range provs {
		waitProvider(t, fetcher, root, p.ID())
	}

	total := int64(len(data) / chunk.ChunkSize)
	killed := make(chan int64, 1)
	go func() {
		for {
			if held := fetcher.Store().Stats().Blocks; held >= total/4 {
				provs[0].Close()
				killed <- held
				return
			}
			time.Sleep(time.Millisecond) // poll interval
		}
	}()
	got := readAll(t, fetcher, root)
	if !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	select {
	case held := <-killed:
		if held >= total {
			t.Fatalf("the provider died only after the whole file had arrived (%d blocks)", held)
		}
		t.Logf("provider killed with %d of %d leaves fetched", held, total)
	default:
		t.Fatal("the fetch finished before a quarter of it had arrived")
	}
}

func TestNodesWithDifferentSwarmKeysCannotConnect(t *testing.T) {
	key := func() pnet.PSK {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	k1, k2 := key(), key()
	a := startNode(t, withSwarmKey(k1))
	same := startNode(t, withSwarmKey(k1))
	other := startNode(t, withSwarmKey(k2))
	open := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := same.Connect(ctx, a.AddrInfo()); err != nil {
		t.Fatalf("same key: %v", err)
	}
	for name, n := range map[string]*Node{"other key": other, "no key": open} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.Connect(ctx, a.AddrInfo())
		cancel()
		if err == nil {
			t.Fatalf("%s connected to a private node", name)
		}
	}
	for _, addr := range a.Host().Addrs() {
		if _, err := addr.ValueForProtocol(ma.P_UDP); err == nil {
			t.Fatalf("private node listens on %s: QUIC is not covered by the swarm key", addr)
		}
	}
}

func TestFetchOfContentNobodyHasEndsWithErrNoProviderAtTheDeadline(t *testing.T) {
	a := startNode(t)
	b := startNode(t, withBootstrap(a.AddrInfo()))
	missing, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte("nobody has this"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Fetch(ctx, missing, FetchOptions{}); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("fetch of an unknown block = %v, want ErrNoProvider", err)
	}
}

func TestFileIsFetchableRightAfterAddWhileTheProviderStillThinksItIsOffline(t *testing.T) {
	// A node that started alone: its sweeping provider probes for peers
	// with a growing backoff, so it is still "offline" when a peer joins.
	alone := startNode(t)
	joiner := startNode(t, withBootstrap(alone.AddrInfo()))
	data := randomData(t, 5, 1<<20)
	root := addData(t, alone, data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := joiner.Fetch(ctx, root, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
}
