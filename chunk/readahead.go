package chunk

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
)

// readAhead is a Reader's background reading of the leaves after the one
// it serves. While the caller handles one leaf (a gateway writing it to a
// socket), the next few are read and checked by goroutines of their own,
// so the disk reads and the caller's work overlap instead of taking turns.
//
// Each leaf read ahead is one goroutine doing one block read into a buffer
// it was handed, which it owns until it is done; its result is taken, in
// file order, only when the reader reaches that leaf. A read anywhere else
// (after a Seek) drops the queue: the goroutines finish on their own and
// their buffers are left to the collector, never reused while one might
// still write into them. Buffers come back for reuse only from leaves the
// reader has moved past, which nothing else refers to: Read copies out of
// them, and the bytes Next hands out are valid only until the next call.
type readAhead struct {
	aheadMax int          // leaves to read ahead; 0: none
	aheadEnd uint64       // no leaf starting here or later is read ahead; 0: no bound
	ahead    []*aheadLeaf // in flight or done, next leaves first
	spare    [][]byte     // buffers free for reuse
	wg       sync.WaitGroup
}

// aheadLeaf is one leaf being read ahead.
type aheadLeaf struct {
	cid  cid.Cid
	at   uint64        // file offset of its first byte
	done chan struct{} // closed once data, buf and err are set
	data []byte
	buf  []byte // the buffer data aliases, when it is the reader's own
	err  error
}

// SetReadAhead makes a sequential read fetch up to n leaves past the one
// being read, in the background (0, the default, turns it off). It starts
// only once a read has run from one leaf into the next, so a short range
// costs at most n extra leaves and a read of one leaf none. The getter
// must then be safe for concurrent use. Call Close when done, which waits
// for the reads in flight.
func (r *Reader) SetReadAhead(n int) {
	r.aheadMax = max(n, 0)
	if n <= 0 {
		r.dropAhead()
	}
}

// ReadAheadUntil says the reads will stop n bytes past the current
// offset, as when a byte range is served: no leaf that starts there or
// later is read ahead, so a range costs no block past its end. A Seek
// lifts the bound.
func (r *Reader) ReadAheadUntil(n int64) {
	r.aheadEnd = r.off + uint64(max(n, 0))
}

// Close stops the read-ahead and waits for the block reads it has in
// flight (each ends once its one Get returns, so cancel the reader's
// context first for a getter that may wait long). The reader may still be
// read after Close, without read-ahead. Close does not close the getter.
func (r *Reader) Close() error {
	r.aheadMax = 0
	r.dropAhead()
	r.wg.Wait()
	r.spare = nil
	return nil
}

// dropLeaf lets go of the current leaf, keeping its buffer for reuse.
func (r *Reader) dropLeaf() {
	r.putSpare(r.leafBuf)
	r.leaf, r.leafBuf, r.leafAt = nil, nil, 0
}

// loadLeaf makes raw link i of parent (at file offset pos) the current
// leaf, from the read-ahead queue when it is there, and reads ahead past
// it when the read is sequential.
func (r *Reader) loadLeaf(parent pathNode, i int, pos uint64, seq bool) error {
	n := parent.node
	child, want := n.Links[i].CID, n.FS.BlockSizes[i]
	var data, buf []byte
	var err error
	if a := r.takeAhead(child, pos); a != nil {
		data, buf, err = a.data, a.buf, a.err
	} else {
		data, buf, err = getLeaf(r.ctx, r.get, child, r.takeSpare())
	}
	if err != nil {
		r.putSpare(buf)
		return fmt.Errorf("read %s: %w", child, err)
	}
	if uint64(len(data)) != want {
		r.putSpare(buf)
		return fmt.Errorf("read %s: %w: leaf is %d bytes, parent says %d", child, ErrBadDAG, len(data), want)
	}
	r.leaf, r.leafBuf, r.leafAt = data, buf, pos
	if seq && r.aheadMax > 0 {
		r.scheduleAhead(parent, i, pos+want)
	}
	return nil
}

// takeAhead returns the read-ahead of leaf c at file offset at, done, if
// it heads the queue, else nil; any other queue is for a place the reader
// has left, and is dropped.
func (r *Reader) takeAhead(c cid.Cid, at uint64) *aheadLeaf {
	if len(r.ahead) == 0 {
		return nil
	}
	a := r.ahead[0]
	if !a.cid.Equals(c) || a.at != at {
		r.dropAhead()
		return nil
	}
	r.ahead = r.ahead[1:]
	select {
	case <-a.done:
		return a
	case <-r.ctx.Done():
		// The goroutine sees the context too; its buffer stays its own.
		r.dropAhead()
		return &aheadLeaf{err: r.ctx.Err()}
	}
}

// scheduleAhead starts reads of the raw leaves after link i of parent
// (the next at file offset pos), up to aheadMax in the queue. It stays
// within parent: the leaves of the next subtree are named only by a node
// not yet read, and the sequential read that reaches it reads ahead from
// there.
func (r *Reader) scheduleAhead(parent pathNode, i int, pos uint64) {
	n := parent.node
	j := i + 1
	// The queue holds the leaves right after i, if it holds anything.
	for _, a := range r.ahead {
		if j >= len(n.Links) || j >= len(n.FS.BlockSizes) || !a.cid.Equals(n.Links[j].CID) || a.at != pos {
			r.dropAhead()
			return
		}
		pos += n.FS.BlockSizes[j]
		j++
	}
	for ; len(r.ahead) < r.aheadMax && j < len(n.Links) && j < len(n.FS.BlockSizes); j++ {
		if r.aheadEnd > 0 && pos >= r.aheadEnd {
			return
		}
		c := n.Links[j].CID
		if c.Type() != cid.Raw {
			return
		}
		r.ahead = append(r.ahead, r.startAhead(c, pos))
		pos += n.FS.BlockSizes[j]
	}
}

// startAhead starts reading leaf c in the background.
func (r *Reader) startAhead(c cid.Cid, at uint64) *aheadLeaf {
	a := &aheadLeaf{cid: c, at: at, done: make(chan struct{})}
	ctx, get, buf := r.ctx, r.get, r.takeSpare()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(a.done)
		a.data, a.buf, a.err = getLeaf(ctx, get, c, buf)
	}()
	return a
}

// dropAhead forgets the queue. Its goroutines end on their own (Close
// waits for them); their buffers are theirs until then, so they are not
// taken back.
func (r *Reader) dropAhead() { r.ahead = nil }

// getLeaf reads leaf c, into buf if the getter can. It returns the buffer
// the bytes alias if it is one the reader may reuse, else buf untouched.
func getLeaf(ctx context.Context, get BlockGetter, c cid.Cid, buf []byte) (data, backing []byte, err error) {
	if bg, ok := get.(BufferGetter); ok {
		return bg.GetBuffer(ctx, c, buf)
	}
	data, err = get.Get(ctx, c)
	if err != nil {
		return nil, buf, err
	}
	// data is the getter's, which may hand it out again: never reuse it.
	return data, nil, nil
}

func (r *Reader) takeSpare() []byte {
	if len(r.spare) == 0 {
		return nil
	}
	b := r.spare[len(r.spare)-1]
	r.spare = r.spare[:len(r.spare)-1]
	return b
}

// putSpare keeps a buffer for reuse: at most enough for the queue, the
// current leaf and one being read.
func (r *Reader) putSpare(b []byte) {
	if b != nil && len(r.spare) < r.aheadMax+2 {
		r.spare = append(r.spare, b)
	}
}
