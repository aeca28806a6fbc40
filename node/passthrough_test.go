package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestAFullNodeStreamsAFileItHasNoRoomToKeep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder := startNode(t)
	data := randomData(t, 41, 30*chunk.ChunkSize+777)
	res, err := holder.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	full := startNodeWith(t, t.TempDir(), store.Options{Capacity: 1})
	link(t, full, holder)
	for _, tc := range []struct {
		name      string
		from      int64
		providers []peer.ID
	}{
		{"from the start, a provider given", 0, []peer.ID{holder.ID()}},
		{"from the middle, a provider given", 17*chunk.ChunkSize + 5, []peer.ID{holder.ID()}},
		{"from the start, the holder found by asking", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := full.Stream(ctx, res.Root, FetchOptions{Providers: tc.providers})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Seek(tc.from, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatalf("read through the full node: %v", err)
			}
			if !bytes.Equal(got, data[tc.from:]) {
				t.Fatalf("read %d bytes that differ from the file's last %d", len(got), len(data)-int(tc.from))
			}
			// The fetch did run, and ended for want of room: the bytes
			// came the other way.
			if !NoRoom(s.Err()) {
				t.Fatalf("the stream's fetch ended with %v, want a store with no room", s.Err())
			}
			if st := full.Store().Stats(); st.Blocks != 0 {
				t.Fatalf("the full node kept %d blocks", st.Blocks)
			}
		})
	}
	// The first read alone passed the root and its 31 leaves through.
	if got := full.PassedThrough(); got < 32 {
		t.Fatalf("PassedThrough %d after three reads of a 32-block file passed through", got)
	}
}

func TestAFullNodeWithNoHolderToAskFailsTheReadWithErrNoProvider(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder := startNode(t)
	data := randomData(t, 42, 3*chunk.ChunkSize)
	res, err := holder.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	full := startNodeWith(t, t.TempDir(), store.Options{Capacity: 1})
	link(t, full, holder)
	s, err := full.Stream(ctx, res.Root, FetchOptions{Providers: []peer.ID{holder.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The first block comes through; then the holder goes.
	first := make([]byte, 10)
	if _, err := io.ReadFull(s, first); err != nil {
		t.Fatal(err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(s)
	if !errors.Is(err, ErrNoProvider) {
		t.Fatalf("read after the only holder left: %v, want ErrNoProvider", err)
	}
}
