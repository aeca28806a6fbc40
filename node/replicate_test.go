package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	mh "github.com/multiformats/go-multihash"
)

func withReplication(rc ReplicationConfig) nodeOpt {
	return func(c *Config) { c.Replication = rc }
}

// fastRepair keeps R=3, W=2 with timers short enough for tests.
var fastRepair = ReplicationConfig{Factor: 3, WriteQuorum: 2, GraceDelay: 300 * time.Millisecond, Interval: time.Second, TickEvery: 50 * time.Millisecond}

// cluster starts n nodes with replication, all connected to each other.
func cluster(t *testing.T, n int, rc ReplicationConfig) []*Node {
	t.Helper()
	var nodes []*Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, startNode(t, withReplication(rc)))
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			link(t, a, b)
		}
	}
	return nodes
}

type file struct {
	root  cid.Cid
	data  []byte
	keys  []mh.Multihash
	adder *Node
}

func dagKeys(t testing.TB, n *Node, root cid.Cid) []mh.Multihash {
	t.Helper()
	var keys []mh.Multihash
	if err := chunk.WalkCIDs(context.Background(), n.Store(), root, func(c cid.Cid) error {
		keys = append(keys, c.Hash())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// holders counts the live nodes holding each key.
func holders(alive []*Node, k mh.Multihash) []*Node {
	var out []*Node
	for _, n := range alive {
		if ok, _ := n.Store().Has(cid.NewCidV1(cid.Raw, k)); ok {
			out = append(out, n)
		}
	}
	return out
}

// waitCopies polls until every key of every file has at least want live
// copies and, not counting the adder (which pinned it), at most most.
func waitCopies(t *testing.T, alive []*Node, files []file, want, most int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		bad := ""
		for _, f := range files {
			for _, k := range f.keys {
				hs := holders(alive, k)
				extra := 0
				for _, h := range hs {
					if h != f.adder {
						extra++
					}
				}
				if len(hs) < want || extra > most {
					bad = fmt.Sprintf("block %s of %s: %d live copies (%d besides its adder)", k.B58String(), f.root, len(hs), extra)
					break
				}
			}
			if bad != "" {
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s; want at least %d, at most %d besides the adder", within, bad, want, most)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

func TestEveryChunkKeepsThreeLiveCopiesWhenTwoNodesDie(t *testing.T) {
	nodes := cluster(t, 10, fastRepair)
	var files []file
	for i := 0; i < 20; i++ {
		size := []int{1000, 200_000, 262_145, 900_000, 1_500_000}[i%5]
		data := randomData(t, int64(100+i), size)
		adder := nodes[i%len(nodes)]
		res, err := adder.Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Copies < 2 {
			t.Fatalf("file %d: add returned with %d copies, want the write quorum of 2", i, res.Copies)
		}
		files = append(files, file{root: res.Root, data: data, keys: dagKeys(t, adder, res.Root), adder: adder})
	}
	waitCopies(t, nodes, files, 3, 3+2, time.Minute)

	// Two nodes die without warning.
	dead := map[*Node]bool{nodes[3]: true, nodes[7]: true}
	var alive []*Node
	for _, n := range nodes {
		if dead[n] {
			n.Close()
		} else {
			alive = append(alive, n)
		}
	}
	endangered, total := 0, 0
	for i := range files {
		if dead[files[i].adder] {
			files[i].adder = nil
		}
		for _, k := range files[i].keys {
			total++
			if len(holders(alive, k)) < 3 {
				endangered++
			}
		}
	}
	if endangered == 0 {
		t.Fatal("the two dead nodes held no copy that mattered: nothing to repair")
	}
	t.Logf("%d of %d blocks fell below 3 live copies", endangered, total)
	waitCopies(t, alive, files, 3, 3+2, time.Minute)

	// Every file reads back identical from a live node that never held it.
	for _, f := range files {
		var reader *Node
		for _, n := range alive {
			if ok, _ := n.Store().Has(f.root); !ok {
				reader = n
				break
			}
		}
		if reader == nil {
			continue // every live node holds it: nothing left to prove
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := reader.Open(ctx, f.root)
		if err != nil {
			cancel()
			t.Fatalf("read %s on a node that never held it: %v", f.root, err)
		}
		got, err := io.ReadAll(r)
		cancel()
		if err != nil || !bytes.Equal(got, f.data) {
			t.Fatalf("read %s: %d bytes that differ (%v)", f.root, len(got), err)
		}
	}
}

func TestAFullNodeRefusesCopiesAndTheyLandElsewhere(t *testing.T) {
	nodes := cluster(t, 5, fastRepair)
	full := startNodeWith(t, t.TempDir(), store.Options{Capacity: 1}, withReplication(fastRepair))
	ctx := context.Background()
	for _, n := range nodes {
		link(t, full, n)
	}
	alive := append(nodes, full)
	var files []file
	for i := 0; i < 6; i++ {
		data := randomData(t, int64(200+i), 700_000)
		adder := nodes[i%len(nodes)]
		res, err := adder.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{root: res.Root, data: data, keys: dagKeys(t, adder, res.Root), adder: adder})
	}
	waitCopies(t, alive, files, 3, 3+2, time.Minute)
	if st := full.Store().Stats(); st.Blocks != 0 {
		t.Fatalf("the full node took %d blocks", st.Blocks)
	}
	for _, f := range files {
		for _, k := range f.keys {
			n := 0
			for _, h := range holders(alive, k) {
				if h != full {
					n++
				}
			}
			if n < 3 {
				t.Fatalf("block %s has %d copies besides the full node", k.B58String(), n)
			}
		}
	}
}

func TestANodeBackWithinTheGraceDelayCausesNoRepair(t *testing.T) {
	rc := fastRepair
	rc.GraceDelay = 5 * time.Second // far above the 1 s outage, even on a loaded machine
	rc.Interval = time.Hour         // only a loss may start a walk in this test
	var nodes []*Node
	keys := make([]crypto.PrivKey, 5)
	dirs := make([]string, 5)
	for i := 0; i < 5; i++ {
		keys[i], _, _ = crypto.GenerateEd25519Key(rand.Reader)
		dirs[i] = t.TempDir()
		nodes = append(nodes, startNodeWith(t, dirs[i], store.Options{}, withReplication(rc), withIdentity(keys[i])))
	}
	ctx := context.Background()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			link(t, a, b)
		}
	}
	var files []file
	for i := 0; i < 5; i++ {
		data := randomData(t, int64(300+i), 600_000)
		res, err := nodes[i].Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{root: res.Root, data: data, keys: dagKeys(t, nodes[i], res.Root), adder: nodes[i]})
	}
	waitCopies(t, nodes, files, 3, 3+2, time.Minute)
	pushes := func() (n int64) {
		for _, x := range nodes {
			n += x.RepairStats().Pushes
		}
		return n
	}
	before := pushes()

	// Node 2 restarts: same identity, same store, down for a second (long
	// enough for a walk to notice its copies missing, were one to run) and
	// back well within the grace delay.
	restart := nodes[2]
	restart.Close()
	time.Sleep(time.Second) // the outage itself, not a wait for an event
	back := startNodeWith(t, dirs[2], store.Options{}, withReplication(rc), withIdentity(keys[2]))
	for _, n := range nodes {
		if n != restart {
			link(t, back, n)
		}
	}
	nodes[2] = back
	for i := range files {
		if files[i].adder == restart {
			files[i].adder = back
		}
	}
	// Past the grace delay, with the policy ticking all along.
	deadline := time.Now().Add(2 * rc.GraceDelay)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // let the timers run; this test is about what does not happen
	}
	if after := pushes(); after != before {
		t.Fatalf("a restart within the grace delay caused %d repair copies", after-before)
	}
	waitCopies(t, nodes, files, 3, 3+2, time.Second)
}

func TestADrainedNodeLeavesWithoutAnyChunkBelowRAndWithoutRepair(t *testing.T) {
	nodes := cluster(t, 6, fastRepair)
	ctx := context.Background()
	var files []file
	for i := 0; i < 6; i++ {
		data := randomData(t, int64(400+i), 500_000)
		adder := nodes[i]
		res, err := adder.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{root: res.Root, data: data, keys: dagKeys(t, adder, res.Root), adder: adder})
	}
	waitCopies(t, nodes, files, 3, 3+2, time.Minute)

	leaving := nodes[0]
	st, err := leaving.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rest := nodes[1:]
	for _, f := range files {
		for _, k := range f.keys {
			if n := len(holders(rest, k)); n < 3 {
				t.Fatalf("after the drain, block %s has %d copies besides the drained node", k.B58String(), n)
			}
		}
	}
	t.Logf("drain: %d chunks, %d copies handed over", st.Chunks, st.Pushed)
	pushes := func() (n int64) {
		for _, x := range rest {
			n += x.RepairStats().Pushes
		}
		return n
	}
	// A walk under way during the drain may still be pushing what it
	// planned before the drain's copies landed: count from once every
	// other node has run a whole walk that began after the drain.
	walked := make([]int64, len(rest))
	for i, x := range rest {
		walked[i] = x.RepairStats().Walks
	}
	deadline := time.Now().Add(time.Minute)
	for i, x := range rest {
		for x.RepairStats().Walks < walked[i]+2 {
			if time.Now().After(deadline) {
				t.Fatalf("node %d ran no whole walk after the drain", i+1)
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
	before := pushes()
	leaving.Close()
	deadline = time.Now().Add(fastRepair.GraceDelay + 2*fastRepair.Interval)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // let the walks run; this checks what does not happen
	}
	if after := pushes(); after != before {
		t.Fatalf("the drained node's departure caused %d repair copies", after-before)
	}
}

// Asking a node where a file's copies are does not copy the file there:
// only its inner (linking) blocks are fetched, never its leaves.
func TestReplicasOfAFileNotHeldFetchesNoLeaves(t *testing.T) {
	rc := fastRepair
	rc.Disabled = true // no replica pushes: b holds only what Replicas fetches
	nodes := cluster(t, 2, rc)
	a, b := nodes[0], nodes[1]
	data := randomData(t, 91, 1_500_000) // six leaves under one root
	res, err := a.Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reps, err := b.Replicas(context.Background(), res.Root, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != len(dagKeys(t, a, res.Root)) {
		t.Fatalf("%d blocks listed, want %d", len(reps), len(dagKeys(t, a, res.Root)))
	}
	for _, r := range reps {
		if r.CID.Type() == cid.Raw && b.Has(r.CID) {
			t.Fatalf("b fetched leaf %s to list the copies", r.CID)
		}
	}
	if !b.Has(res.Root) {
		t.Fatal("b did not fetch the root it had to read for the leaves' CIDs")
	}
}
