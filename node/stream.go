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

// Stream returns at once with a reader over the file under root that
// serves each byte as soon as the block holding it is here, so the first
// bytes of a large file flow before its last block is fetched.
//
// Nothing is fetched (or announced) while every block the reader asks for
// is held: a file already here costs no fetch and no DHT work. The first
// block found missing starts a fetch of the DAG's missing blocks, in file
// order, and a read that needs a block not yet here waits for it (or for
// the fetch to fail). Close the stream to stop the fetch.
//
// A store with no room does not stop the read: once the fetch fails for
// want of room, the blocks the reader asks for come from their holders
// one by one and are handed over without being kept (see passThrough).
func (n *Node) Stream(ctx context.Context, root cid.Cid, opts FetchOptions) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{n: n, ctx: ctx, root: root, opts: opts, cancel: cancel, thru: passHolders{given: opts.Providers}}
	r, err := chunk.NewReader(ctx, s, root)
	if err != nil {
		s.Close()
		return nil, err
	}
	// The gateway and other streaming readers mostly read a file through
	// from where they start: read ahead, so that the next blocks are read
	// from disk and checked while this one goes out.
	r.SetReadAhead(streamReadAhead)
	s.Reader = r
	return s, nil
}

// streamReadAhead is how many leaves a stream reads ahead (1 MiB; with the
// current leaf and one in reuse, 1.5 MiB of buffers per stream). On the
// gateway bench, 2 served a local 1 GiB file some 10-20% slower than 4,
// and 8 no faster.
const streamReadAhead = 4

// Stream is a file being read while it is fetched.
type Stream struct {
	*chunk.Reader
	n      *Node
	ctx    context.Context
	root   cid.Cid
	opts   FetchOptions
	cancel context.CancelFunc

	mu     sync.Mutex
	f      *fetch        // nil until a block was found missing
	done   chan struct{} // closed when f has ended
	err    error
	closed bool        // no fetch may start: Close would not wait for it
	thru   passHolders // who to ask for blocks passed through
}

// fetching returns the stream's fetch, starting it on first use; nil
// once the stream is closed.
func (s *Stream) fetching() (*fetch, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil || s.closed {
		return s.f, s.done
	}
	f := s.n.newFetch(s.ctx, s.opts)
	s.f, s.done = f, make(chan struct{})
	go func() {
		defer close(s.done)
		err := f.run(s.root)
		// What the fetch stored is announced even when it failed or was
		// stopped: those blocks are held and checked, and nothing else
		// would announce them until the node restarts.
		if perr := f.announce(); err == nil {
			err = perr
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return f, s.done
}

// Get implements chunk.BlockGetter over the store, waiting for blocks the
// fetch has yet to bring.
func (s *Stream) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, _, err := s.GetBuffer(ctx, c, nil)
	return data, err
}

// GetBuffer implements chunk.BufferGetter: Get, reading into buf. A block
// not held starts the fetch (if it is not running yet) and waits for it.
func (s *Stream) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	g := healingGetter{s.n}
	data, buf, err := g.GetBuffer(ctx, c, buf)
	if !errors.Is(err, store.ErrNotFound) {
		return data, buf, err
	}
	f, done := s.fetching()
	if f == nil {
		return nil, buf, fmt.Errorf("stream %s: closed: %w", c, context.Canceled)
	}
	f.prioritize(c)
	for {
		arrived := f.waitChan() // before the look, so no arrival is missed
		data, buf, err = g.GetBuffer(ctx, c, buf)
		if !errors.Is(err, store.ErrNotFound) {
			return data, buf, err
		}
		select {
		case <-arrived:
		case <-done:
			// The fetch has ended: the block is here now or never will be.
			data, buf, err = g.GetBuffer(ctx, c, buf)
			if errors.Is(err, store.ErrNotFound) {
				ferr := s.Err()
				if NoRoom(ferr) {
					return s.n.passThrough(ctx, c, &s.thru, buf)
				}
				if ferr != nil {
					return nil, buf, ferr
				}
				return nil, buf, fmt.Errorf("stream %s: %w", c, err)
			}
			return data, buf, err
		case <-ctx.Done():
			return nil, buf, ctx.Err()
		}
	}
}

// Fetching reports whether the stream has had to start a fetch.
func (s *Stream) Fetching() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f != nil
}

// Err is the fetch's error, once it has ended (nil if none was needed).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the read-ahead and the fetch, and waits for both.
func (s *Stream) Close() error {
	s.cancel()
	if s.Reader != nil {
		s.Reader.Close() // before the fetch: read-ahead may start one
	}
	s.mu.Lock()
	s.closed = true
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}
