package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Pushes to one peer go out in batches (exchange.BatchProtocolID): each
// push joins its peer's queue, and a sender takes everything queued, up
// to exchange.MaxPushBatch blocks and maxBatchBytes, onto one stream that
// the receiver commits once. The batches form by themselves, as group
// commits do: while a batch is on its way the next one gathers, so a lone
// push goes at once and many concurrent pushes share streams, round trips
// and fsyncs (one stream and one commit a block held a repair to a quarter
// of a fetch).

// batchesInFlight is how many batches go to one peer at a time: two, so
// that one gathers and travels while the other is committed.
const batchesInFlight = 2

// batchTimeout bounds one batch, whoever's pushes it carries: a sender
// does not use any one caller's context, since that caller may give up
// while the others still wait. It is the receiver's bound on a stream
// (exchange.ServerConfig.StreamTimeout) too.
const batchTimeout = time.Minute

// maxBatchBytes bounds the blocks of one batch (one block at least), so
// that a batch fits batchTimeout on links down to some 300 kbit/s, as a
// lone block's push did on links 8 times slower.
const maxBatchBytes = 2 << 20

// pushClient is what the queue needs of exchange.Client.
type pushClient interface {
	Batches(p peer.ID) bool
	Push(ctx context.Context, p peer.ID, c cid.Cid, data []byte) error
	PushBatch(ctx context.Context, p peer.ID, items []exchange.PushItem) []error
}

// pushQueue batches the node's pushes by peer.
type pushQueue struct {
	client  pushClient
	ctx     context.Context   // the node's: senders stop when it ends
	goBG    func(func()) bool // the node's: runs a sender it owns
	mu      sync.Mutex
	by      map[peer.ID]*peerQueue
	batches atomic.Int64 // batches sent
	batched atomic.Int64 // blocks they carried
}

type peerQueue struct {
	waiting []*queuedPush
	sending int // senders running for this peer
}

type queuedPush struct {
	item exchange.PushItem
	done chan error // buffered: the sender never waits on it
}

func newPushQueue(ctx context.Context, client pushClient, goBG func(func()) bool) *pushQueue {
	return &pushQueue{client: client, ctx: ctx, goBG: goBG, by: map[peer.ID]*peerQueue{}}
}

// PushBatches reports the batches of pushes this node has sent and the
// blocks they carried (their ratio is how well pushes share streams and
// commits).
func (n *Node) PushBatches() (batches, blocks int64) {
	return n.pushes.batches.Load(), n.pushes.batched.Load()
}

// push offers p one block and returns once p has it durably, or why not,
// as exchange.Client.Push does. data must stay valid until it returns.
func (q *pushQueue) push(ctx context.Context, p peer.ID, c cid.Cid, data []byte) error {
	if !q.client.Batches(p) {
		return q.client.Push(ctx, p, c, data)
	}
	qp := &queuedPush{item: exchange.PushItem{CID: c, Data: data}, done: make(chan error, 1)}
	q.mu.Lock()
	pq := q.by[p]
	if pq == nil {
		pq = &peerQueue{}
		q.by[p] = pq
	}
	pq.waiting = append(pq.waiting, qp)
	if pq.sending < batchesInFlight {
		pq.sending++
		if !q.goBG(func() { q.send(p, pq) }) {
			pq.sending--
			pq.waiting = slices.DeleteFunc(pq.waiting, func(o *queuedPush) bool { return o == qp })
			q.mu.Unlock()
			return q.ctx.Err()
		}
	}
	q.mu.Unlock()
	select {
	case err := <-qp.done:
		return err
	case <-ctx.Done():
	}
	q.mu.Lock()
	if i := slices.Index(pq.waiting, qp); i >= 0 {
		pq.waiting = slices.Delete(pq.waiting, i, i+1)
		q.mu.Unlock()
		return ctx.Err()
	}
	q.mu.Unlock()
	// A sender has taken it: its bytes are in use until the batch ends
	// (within batchTimeout), and what the batch did with it stands (a
	// block stored is a copy made, however late the caller).
	return <-qp.done
}

// send sends p's queued pushes in batches until none are left.
func (q *pushQueue) send(p peer.ID, pq *peerQueue) {
	for {
		q.mu.Lock()
		n, bytes := 0, 0
		for n < min(len(pq.waiting), exchange.MaxPushBatch) && (n == 0 || bytes+len(pq.waiting[n].item.Data) <= maxBatchBytes) {
			bytes += len(pq.waiting[n].item.Data)
			n++
		}
		if n == 0 {
			pq.sending--
			if pq.sending == 0 && q.by[p] == pq {
				delete(q.by, p)
			}
			q.mu.Unlock()
			return
		}
		batch := slices.Clone(pq.waiting[:n])
		pq.waiting = slices.Delete(pq.waiting, 0, n)
		q.mu.Unlock()

		items := make([]exchange.PushItem, len(batch))
		for i, qp := range batch {
			items[i] = qp.item
		}
		ctx, cancel := context.WithTimeout(q.ctx, batchTimeout)
		q.batches.Add(1)
		q.batched.Add(int64(len(items)))
		errs := q.client.PushBatch(ctx, p, items)
		cancel()
		for i, qp := range batch {
			qp.done <- errs[i]
		}
	}
}
