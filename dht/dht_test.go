package dht

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

type keySet struct {
	mu   sync.Mutex
	keys []mh.Multihash
}

func (k *keySet) add(keys ...mh.Multihash) {
	k.mu.Lock()
	k.keys = append(k.keys, keys...)
	k.mu.Unlock()
}

func (k *keySet) each(_ context.Context, fn func(mh.Multihash) error) error {
	k.mu.Lock()
	keys := append([]mh.Multihash(nil), k.keys...)
	k.mu.Unlock()
	for _, key := range keys {
		if err := fn(key); err != nil {
			return err
		}
	}
	return nil
}

type testNode struct {
	h    host.Host
	d    *DHT
	keys *keySet
}

func startNode(t *testing.T, bootstrap []peer.AddrInfo) *testNode {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{h: h, keys: &keySet{}}
	n.d, err = New(Config{Host: h, BootstrapPeers: bootstrap, Keys: n.keys.each})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.d.Close()
		h.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *testNode) info() []peer.AddrInfo { return []peer.AddrInfo{{ID: n.h.ID(), Addrs: n.h.Addrs()}} }

func keysFor(t *testing.T, prefix string, n int) []mh.Multihash {
	t.Helper()
	out := make([]mh.Multihash, n)
	for i := range out {
		m, err := mh.Sum([]byte(fmt.Sprintf("%s-%d", prefix, i)), mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// waitForProvider polls from's DHT until it names want as a provider of key.
func waitForProvider(t *testing.T, from *testNode, key mh.Multihash, want peer.ID) LookupStats {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		provs, st, err := from.d.FindProviders(ctx, cid.NewCidV1(cid.Raw, key), 0)
		cancel()
		if err == nil {
			for _, p := range provs {
				if p.ID == want {
					return st
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provider record of %s from %s after 60s (got %v, %v)", key.B58String(), want, provs, err)
		}
		time.Sleep(200 * time.Millisecond) // poll interval, not synchronisation
	}
}

func TestProvidersAreFoundAcrossAChainOfBootstraps(t *testing.T) {
	var nodes []*testNode
	for i := 0; i < 5; i++ {
		var bs []peer.AddrInfo
		if i > 0 {
			bs = nodes[i-1].info()
		}
		nodes = append(nodes, startNode(t, bs))
	}
	keys := keysFor(t, "chain", 50)
	nodes[0].keys.add(keys...)
	if err := nodes[0].d.Provide(keys...); err != nil {
		t.Fatal(err)
	}
	for _, k := range []mh.Multihash{keys[0], keys[49]} {
		st := waitForProvider(t, nodes[4], k, nodes[0].h.ID())
		if st.RPCs == 0 {
			t.Fatalf("lookup from node 5 made no RPCs: %+v", st)
		}
	}
}

func TestKeysProvidedWhileAloneAreAnnouncedOncePeersArrive(t *testing.T) {
	alone := startNode(t, nil)
	keys := keysFor(t, "alone", 10)
	alone.keys.add(keys...)
	if err := alone.d.Provide(keys...); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, alone.info())
	b := startNode(t, a.info())
	waitForProvider(t, b, keys[3], alone.h.ID())
}

func TestBlocksHeldBeforeStartAreAnnouncedWithoutAProvideCall(t *testing.T) {
	// As after "cairn add" with no daemon running: the blocks are in the
	// store, and nobody ever called Provide for them.
	first := startNode(t, nil)
	keys := keysFor(t, "held", 10)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	holder := &testNode{h: h, keys: &keySet{}}
	holder.keys.add(keys...)
	if holder.d, err = New(Config{Host: h, BootstrapPeers: first.info(), Keys: holder.keys.each}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.d.Close(); h.Close() })
	if err := holder.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	finder := startNode(t, first.info())
	waitForProvider(t, finder, keys[7], holder.h.ID())
}
