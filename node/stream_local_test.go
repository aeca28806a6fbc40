package node

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func streamAll(t *testing.T, n *Node, root cid.Cid, opts FetchOptions) ([]byte, *Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := n.Stream(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, s
}

func TestStreamOfAHeldFileStartsNoFetch(t *testing.T) {
	n := startNode(t)
	data := randomData(t, 41, 9*chunk.ChunkSize+77)
	root := addData(t, n, data)
	got, s := streamAll(t, n, root, FetchOptions{})
	if !bytes.Equal(got, data) {
		t.Fatal("streamed file differs")
	}
	if s.Fetching() {
		t.Fatal("a stream of a file held whole started a fetch (and would announce it again)")
	}
}

func TestStreamOfAPartlyHeldFileFetchesAndAnnouncesWhatIsMissing(t *testing.T) {
	// No replication, which would push the whole file to the reader.
	solo := withReplication(ReplicationConfig{Disabled: true})
	origin := startNode(t, solo)
	reader := startNode(t, solo, withBootstrap(origin.AddrInfo()))
	other := startNode(t, solo, withBootstrap(reader.AddrInfo()))
	data := randomData(t, 42, 12*chunk.ChunkSize+5)
	root := addData(t, origin, data)

	// The reader holds the root and every leaf but one in the middle.
	var missing cid.Cid
	leaves := 0
	ctx := context.Background()
	err := chunk.WalkCIDs(ctx, origin.Store(), root, func(c cid.Cid) error {
		if c.Type() == cid.Raw {
			if leaves++; leaves == 7 {
				missing = c
				return nil
			}
		}
		b, err := origin.Store().Get(ctx, c)
		if err != nil {
			return err
		}
		return reader.Store().Put(c, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, s := streamAll(t, reader, root, FetchOptions{Providers: []peer.ID{origin.ID()}})
	if !bytes.Equal(got, data) {
		t.Fatal("streamed file differs")
	}
	if !s.Fetching() {
		t.Fatal("a block was missing but no fetch started")
	}
	if has, err := reader.Store().Has(missing); err != nil || !has {
		t.Fatalf("the missing leaf is not held after the stream: %v, %v", has, err)
	}
	// What the stream fetched is announced.
	waitProvider(t, other, missing, reader.ID())
}
