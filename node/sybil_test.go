package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// liar is a Sybil's block source: it claims every block and holds none.
// A noisy liar serves and proves noise; a quiet one says, when asked to
// prove a block, that it does not have it after all.
type liar struct{ quiet bool }

func (liar) Has(cid.Cid) (bool, error) { return true, nil }

func (l liar) GetBuffer(_ context.Context, _ cid.Cid, buf []byte) ([]byte, []byte, error) {
	if l.quiet {
		return nil, buf, errors.New("not here")
	}
	b := make([]byte, 1024)
	rand.Read(b)
	return b, buf, nil
}

// startSybil runs a peer with key that answers yes to every have-probe and
// "stored" to every push, and keeps nothing.
func startSybil(t *testing.T, key crypto.PrivKey, quiet bool) peer.AddrInfo {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s, err := exchange.NewServer(exchange.ServerConfig{Host: h, Blocks: liar{quiet: quiet},
		OnPush: func(context.Context, peer.ID, cid.Cid, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// grindKeys makes n identities closer to key in the DHT's keyspace than
// any of the first tries random ones: Sybils that would be a chunk's
// first placement targets.
func grindKeys(t *testing.T, key mh.Multihash, n, tries int) []crypto.PrivKey {
	t.Helper()
	target := kb.ConvertKey(string(key))
	type cand struct {
		k crypto.PrivKey
		d []byte
	}
	var cs []cand
	for i := 0; i < tries; i++ {
		sk, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPublicKey(pub)
		pos := kb.ConvertPeerID(id)
		d := make([]byte, len(pos))
		for j := range d {
			d[j] = pos[j] ^ target[j]
		}
		cs = append(cs, cand{sk, d})
	}
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].d, cs[j].d) < 0 })
	out := make([]crypto.PrivKey, n)
	for i := range out {
		out[i] = cs[i].k
	}
	return out
}

func TestSybilsThatClaimEverythingAndStoreNothingTakeNoCopyFromHonestNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := randomData(t, 1, 1000)
	// Large enough that each node holds more chunks than an audit samples,
	// so claims the audit did not sample would count if a failed sample
	// did not void them all.
	large := randomData(t, 2, 32<<20)
	sc, err := chunk.Add(ctx, bytes.NewReader(small), nil, chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunkKey := sc.Root.Hash()

	// Six Sybils ground to be the closest peers to the small file's chunk
	// (for the large file's chunks they sit at random), half of them noisy
	// liars and half quiet ones, and ten honest nodes.
	var sybils []peer.ID
	var infos []peer.AddrInfo
	for i, k := range grindKeys(t, chunkKey, 6, 20000) {
		ai := startSybil(t, k, i%2 == 1)
		sybils = append(sybils, ai.ID)
		infos = append(infos, ai)
	}
	nodes := cluster(t, 10, fastRepair)
	for _, n := range nodes {
		for _, ai := range infos {
			if err := n.Connect(ctx, ai); err != nil {
				t.Fatal(err)
			}
		}
	}
	pollUntil(t, 10*time.Second, "every node to see the six Sybils closest to the chunk", func() bool {
		for _, n := range nodes {
			if got := n.rep.placement().Closest(chunkKey, 6); !sameSet(got, sybils) {
				return false
			}
		}
		return true
	})

	// W=2: add returns once two honest nodes hold every block.
	var files []file
	for i, data := range [][]byte{small, large} {
		adder := nodes[i]
		res, err := adder.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys := dagKeys(t, adder, res.Root)
		for _, k := range keys {
			if hs := holders(nodes, k); res.Copies < 2 || len(hs) < 2 {
				t.Fatalf("file %d: add returned %d copies with %d honest nodes holding block %s: Sybils' claims were counted", i, res.Copies, len(hs), k.B58String())
			}
		}
		files = append(files, file{root: res.Root, data: data, keys: keys, adder: adder})
	}
	if res := nodes[0].RepairStats().Proofs; res.Failed == 0 {
		t.Fatalf("the adder caught no Sybil: %+v", res)
	}
	waitCopies(t, nodes, files, 3, 3+2, 30*time.Second)

	// Walks run on every node with the Sybils still connected: no honest
	// copy may go (there are at most R+2, so none is surplus).
	before := map[string][]*Node{}
	for _, f := range files {
		for _, k := range f.keys {
			before[string(k)] = holders(nodes, k)
		}
	}
	walked := map[*Node]int64{}
	for _, n := range nodes {
		walked[n] = n.RepairStats().Walks
	}
	pollUntil(t, 30*time.Second, "two more walks on every node", func() bool {
		for _, n := range nodes {
			if n.RepairStats().Walks < walked[n]+2 {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		if d := n.RepairStats().Dropped; d > 0 {
			t.Fatalf("node %s dropped %d copies while at most R+2 honest nodes held each block: Sybils' claims were counted", n.ID(), d)
		}
	}
	for k, was := range before {
		if now := holders(nodes, mh.Multihash(k)); len(now) < len(was) {
			t.Fatalf("block %s: %d honest copies before the walks, %d after: an honest copy was dropped while Sybils claimed it",
				mh.Multihash(k).B58String(), len(was), len(now))
		}
	}

	// Two honest holders of the small file die: it is repaired to three
	// honest copies, past the Sybils that claim to hold it.
	hs := holders(nodes, chunkKey)
	var dead []*Node
	for _, n := range hs {
		if n != files[0].adder && len(dead) < 2 {
			dead = append(dead, n)
			n.Close()
		}
	}
	var alive []*Node
	for _, n := range nodes {
		if !slices.Contains(dead, n) {
			alive = append(alive, n)
		}
	}
	for i := range files {
		if slices.Contains(dead, files[i].adder) {
			files[i].adder = nil
		}
	}
	waitCopies(t, alive, files, 3, 3+2, time.Minute)
}

func sameSet(a, b []peer.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
