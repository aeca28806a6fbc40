package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

// Stream starts fetching the DAG under root and returns at once with a
// reader that serves each byte as soon as the block holding it has
// arrived, so the first bytes of a large file flow before its last block
// is fetched. The fetch runs in file order; a read that needs a block
// not yet here waits for it (or for the fetch to fail). Close the stream
// to stop the fetch.
func (n *Node) Stream(ctx context.Context, root cid.Cid, opts FetchOptions) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := n.newFetch(ctx, opts)
	s := &Stream{n: n, f: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := f.run(root)
		if err == nil {
			err = n.announceDAG(ctx, root)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	r, err := chunk.NewReader(ctx, s, root)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Reader = r
	return s, nil
}

// Stream is a file being read while it is fetched.
type Stream struct {
	*chunk.Reader
	n      *Node
	f      *fetch
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Get implements chunk.BlockGetter over the store, waiting for blocks the
// fetch has yet to bring.
func (s *Stream) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	for {
		arrived := s.f.waitChan() // before the look, so no arrival is missed
		data, err := healingGetter{s.n}.Get(ctx, c)
		if !errors.Is(err, store.ErrNotFound) {
			return data, err
		}
		select {
		case <-arrived:
		case <-s.done:
			// The fetch has ended: the block is here now or never will be.
			data, err := healingGetter{s.n}.Get(ctx, c)
			if errors.Is(err, store.ErrNotFound) {
				if ferr := s.Err(); ferr != nil {
					return nil, ferr
				}
				return nil, fmt.Errorf("stream %s: %w", c, err)
			}
			return data, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Err is the fetch's error, once it has ended.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the fetch and waits for it.
func (s *Stream) Close() error {
	s.cancel()
	<-s.done
	return nil
}
