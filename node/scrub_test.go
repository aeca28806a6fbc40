package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// rot flips one byte in the middle of the first segment file of the
// node whose repo is dir.
func rot(t *testing.T, dir string) {
	t.Helper()
	seg := filepath.Join(dir, "blocks", "00000001.seg")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := make([]byte, 1)
	off := fi.Size() / 2
	f.ReadAt(b, off)
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func fetchedCopy(t *testing.T) (*Node, *Node, string, []byte, func() []byte) {
	t.Helper()
	origin := startNode(t)
	data := randomData(t, 7, 4<<20)
	root := addData(t, origin, data)
	dir := t.TempDir()
	replica := startNodeAt(t, dir, withBootstrap(origin.AddrInfo()))
	ctx := context.Background()
	if err := replica.Fetch(ctx, root, FetchOptions{Providers: []peer.ID{origin.ID()}}); err != nil {
		t.Fatal(err)
	}
	if err := replica.Store().Sync(); err != nil {
		t.Fatal(err)
	}
	read := func() []byte {
		t.Helper()
		r, err := replica.Reader(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	return origin, replica, dir, data, read
}

func TestScrubberDropsACorruptBlockAndFetchesItFromAReplica(t *testing.T) {
	_, replica, dir, data, read := fetchedCopy(t)
	rot(t, dir)
	st, err := replica.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Corrupt != 1 || st.Repaired != 1 || st.Checked == 0 {
		t.Fatalf("scrub %+v, want one corrupt block found and repaired", st)
	}
	if res, err := replica.Store().Verify(context.Background(), nil); err != nil || len(res.Failed) != 0 {
		t.Fatalf("store after the scrub: %+v, %v", res, err)
	}
	if !bytes.Equal(read(), data) {
		t.Fatal("file differs after the scrub")
	}
}

func TestAReadMendsACorruptBlockBeforeTheScrubberGetsThere(t *testing.T) {
	_, replica, dir, data, read := fetchedCopy(t)
	rot(t, dir)
	if !bytes.Equal(read(), data) {
		t.Fatal("file read through bitrot differs")
	}
	if replica.ScrubErrors() != 1 {
		t.Fatalf("%d corrupt blocks counted, want 1", replica.ScrubErrors())
	}
}

// A block that fails its check while no replica can give a good copy is
// not dropped: it stays indexed (reads keep failing, never with wrong
// bytes), and the scrub reports it.
func TestACorruptBlockNoReplicaCanReplaceStaysAndIsReported(t *testing.T) {
	origin, replica, dir, _, _ := fetchedCopy(t)
	rot(t, dir)
	origin.Close() // the only other copy is gone
	ctx := context.Background()
	var bad mh.Multihash
	if err := replica.Store().ForEach(ctx, func(k mh.Multihash) error {
		if _, err := replica.Store().GetHash(k); errors.Is(err, store.ErrCorrupt) {
			bad = k
		}
		return nil
	}); err != nil || bad == nil {
		t.Fatalf("no corrupt block after the rot (%v)", err)
	}
	st, err := replica.Scrub(ctx, 0)
	if err == nil || st.Corrupt != 1 || st.Repaired != 0 {
		t.Fatalf("scrub: %+v, %v; want the corrupt block found, not repaired, and reported", st, err)
	}
	if ok, err := replica.Store().Has(cid.NewCidV1(cid.Raw, bad)); err != nil || !ok {
		t.Fatalf("the corrupt block was dropped with no good copy to replace it (%v)", err)
	}
	if _, err := replica.Store().GetHash(bad); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("reading it: %v, want ErrCorrupt", err)
	}
}
