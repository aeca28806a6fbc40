package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/ipfs/go-cid"
)

// BlockSink receives the blocks a file is cut into. The adder computed each
// CID itself, so a sink need not hash again. PutHashed must not keep data
// after it returns: the adder reuses the buffer. It is called from several
// goroutines at once.
type BlockSink interface {
	PutHashed(c cid.Cid, data []byte) error
}

// AddOptions tune Add. The zero value is IPFS-compatible sha2-256.
type AddOptions struct {
	Hash HashFunc // default SHA2_256
	// Workers hashing chunks in parallel; default GOMAXPROCS.
	Workers int
	// Progress, if set, is called with the number of input bytes whose
	// leaves have been stored, in order, from the goroutine calling Add.
	Progress func(done uint64)
	// Name is the file's name, for callers that record one (the cluster's
	// pin set); the DAG does not hold it.
	Name string
}

// AddResult describes an added file.
type AddResult struct {
	Root   cid.Cid
	Size   uint64 // file bytes
	Blocks int    // blocks made (leaves and inner nodes)
	// Tsize is the bytes of every block of the DAG (leaves and inner
	// nodes), the cumulative size a directory's link to the file records.
	Tsize uint64
}

// Add cuts r into chunks, hashes them on several cores while the next ones
// are read, hands every block to sink (nil: compute the CID only) and
// returns the root of the balanced DAG. Memory is bounded by a small pool of
// chunk buffers, whatever the file's size.
func Add(ctx context.Context, r io.Reader, sink BlockSink, opts AddOptions) (AddResult, error) {
	if opts.Hash == 0 {
		opts.Hash = SHA2_256
	}
	if _, err := opts.Hash.Sum(nil); err != nil {
		return AddResult{}, err
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	// The first chunk is read here. A file that fits in it, the common
	// small file, is hashed and stored on this goroutine: for it the
	// pipeline's goroutines and hand-offs cost more than the hashing, and
	// under many concurrent small adds their scheduling was most of an
	// add's time (BenchmarkSmallAdds in node).
	bp := chunkBufs.Get().(*[]byte)
	n, rerr := io.ReadFull(r, *bp)
	switch {
	case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
		defer chunkBufs.Put(bp)
		return addOneChunk(ctx, (*bp)[:n], sink, opts)
	case rerr != nil:
		chunkBufs.Put(bp)
		return AddResult{}, fmt.Errorf("add: read input: %w", rerr)
	}
	// The pipeline's reader is not waited for on cancellation, so the
	// first chunk's buffer goes to it for good, not back to the pool.
	r = io.MultiReader(bytes.NewReader((*bp)[:n]), r)

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	p := newPipeline(ctx, cancel, r, sink, opts)
	p.start()
	b := &layout{ctx: ctx, leaves: p, sink: sink, hash: opts.Hash, progress: opts.Progress}
	root, size, err := b.build()
	// Stop the pipeline (on error or early return) and wait for it, so no
	// goroutine outlives Add and no buffer is written after we return.
	if err != nil {
		cancel(err)
	}
	p.wait()
	// A failed reader or worker, or a cancelled caller, ends the leaf stream
	// early, and the tree built from what came is not the file: their error
	// is the one to report.
	if perr := p.err(); perr != nil {
		return AddResult{}, perr
	}
	if perr := parent.Err(); perr != nil {
		return AddResult{}, fmt.Errorf("add: %w", perr)
	}
	if err != nil {
		return AddResult{}, err
	}
	return AddResult{Root: root.CID, Size: size, Blocks: b.blocks + p.leavesMade(), Tsize: root.tsize}, nil
}

// addOneChunk adds a file of one chunk: its root is its one raw leaf, as
// the pipeline and layout would make it.
func addOneChunk(ctx context.Context, data []byte, sink BlockSink, opts AddOptions) (AddResult, error) {
	if err := ctx.Err(); err != nil {
		return AddResult{}, fmt.Errorf("add: %w", err)
	}
	c, err := NewCID(opts.Hash, cid.Raw, data)
	if err != nil {
		return AddResult{}, fmt.Errorf("add: %w", err)
	}
	if sink != nil {
		if err := sink.PutHashed(c, data); err != nil {
			return AddResult{}, fmt.Errorf("add: store chunk 0: %w", err)
		}
	}
	size := uint64(len(data))
	if opts.Progress != nil {
		opts.Progress(size)
	}
	return AddResult{Root: c, Size: size, Blocks: 1, Tsize: size}, nil
}

// leaf is a hashed, stored chunk in file order.
type leaf struct {
	seq  uint64
	cid  cid.Cid
	size uint64
}

type job struct {
	seq uint64
	buf []byte
	n   int
}

// pipeline reads chunks, hashes and stores them on Workers goroutines, and
// hands leaves back in file order through next().
type pipeline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	r      io.Reader
	sink   BlockSink
	opts   AddOptions

	free    chan []byte
	nbuf    int // buffers the reader may take from chunkBufs in all
	made    int // taken so far; the reader's alone
	jobs    chan job
	results chan leaf
	wg      sync.WaitGroup

	// owned by the consumer goroutine
	pending map[uint64]leaf
	nextSeq uint64
	peeked  *leaf
	closed  bool
	count   int

	mu       sync.Mutex
	firstErr error
	total    uint64 // chunks read; set when the reader finishes
}

func newPipeline(ctx context.Context, cancel context.CancelCauseFunc, r io.Reader, sink BlockSink, opts AddOptions) *pipeline {
	nbuf := 2*opts.Workers + 2
	return &pipeline{
		ctx: ctx, cancel: cancel, r: r, sink: sink, opts: opts,
		free:    make(chan []byte, nbuf),
		nbuf:    nbuf,
		jobs:    make(chan job, nbuf),
		results: make(chan leaf, nbuf),
		pending: make(map[uint64]leaf),
	}
}

// chunkBufs holds chunk buffers between adds: an add of a small file
// takes one instead of allocating (and zeroing) its whole pipeline's.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// buffer gives the reader a chunk buffer: one given back by a worker, or
// a new one from chunkBufs while fewer than nbuf are in use.
func (p *pipeline) buffer() ([]byte, bool) {
	select {
	case buf := <-p.free:
		return buf, true
	default:
	}
	if p.made < p.nbuf {
		p.made++
		return *chunkBufs.Get().(*[]byte), true
	}
	select {
	case buf := <-p.free:
		return buf, true
	case <-p.ctx.Done():
		return nil, false
	}
}

// recycle gives the buffers the workers handed back to chunkBufs, once
// no worker runs (the reader's own, if it is still blocked in a Read,
// stays with it).
func (p *pipeline) recycle() {
	for {
		select {
		case buf := <-p.free:
			chunkBufs.Put(&buf)
		default:
			return
		}
	}
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	p.mu.Unlock()
	p.cancel(err)
}

func (p *pipeline) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

func (p *pipeline) leavesMade() int { return p.count }

func (p *pipeline) start() {
	// The reader is not waited for: on cancellation it may be blocked in a
	// Read of a pipe or terminal that only the input can end. It holds no
	// shared state but its own buffer, and returns when that Read does.
	go p.read()
	for i := 0; i < p.opts.Workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.work()
		}()
	}
	go func() {
		p.wg.Wait()
		close(p.results)
	}()
}

// wait returns once every worker has stopped, so no block reaches the sink
// after Add returns, and recycles the buffers they gave back.
func (p *pipeline) wait() {
	for range p.results {
	}
	p.recycle()
}

func (p *pipeline) read() {
	defer close(p.jobs)
	for seq := uint64(0); ; seq++ {
		buf, ok := p.buffer()
		if !ok {
			return
		}
		n, err := io.ReadFull(p.r, buf)
		if n > 0 || seq == 0 {
			// An empty file is one empty leaf, as in IPFS.
			select {
			case p.jobs <- job{seq: seq, buf: buf, n: n}:
			case <-p.ctx.Done():
				return
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return
		default:
			p.fail(fmt.Errorf("add: read input: %w", err))
			return
		}
	}
}

func (p *pipeline) work() {
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-p.jobs:
		case <-p.ctx.Done():
			return
		}
		if !ok {
			return
		}
		data := j.buf[:j.n]
		c, err := NewCID(p.opts.Hash, cid.Raw, data)
		if err == nil && p.sink != nil {
			if perr := p.sink.PutHashed(c, data); perr != nil {
				err = fmt.Errorf("add: store chunk %d: %w", j.seq, perr)
			}
		}
		p.free <- j.buf
		if err != nil {
			p.fail(err)
			continue
		}
		select {
		case p.results <- leaf{seq: j.seq, cid: c, size: uint64(j.n)}:
		case <-p.ctx.Done():
		}
	}
}

// peek returns the next leaf in file order without consuming it, or false
// when the input is exhausted or the add failed.
func (p *pipeline) peek() (leaf, bool) {
	if p.peeked != nil {
		return *p.peeked, true
	}
	for {
		if l, ok := p.pending[p.nextSeq]; ok {
			delete(p.pending, p.nextSeq)
			p.nextSeq++
			p.peeked = &l
			return l, true
		}
		if p.closed {
			return leaf{}, false
		}
		select {
		case l, ok := <-p.results:
			if !ok {
				p.closed = true
				continue
			}
			p.pending[l.seq] = l
		case <-p.ctx.Done():
			return leaf{}, false
		}
	}
}

func (p *pipeline) next() (leaf, bool) {
	l, ok := p.peek()
	if ok {
		p.peeked = nil
		p.count++
	}
	return l, ok
}
