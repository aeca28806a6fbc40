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
// to exchange.MaxPushBatch, onto one stream that the receiver commits
// once. The batches form by themselves, as group commits do: while a
// batch is on its way the next one gathers, so a lone push goes at once
// and many concurrent pushes share streams, round trips and fsyncs (one
// stream and one commit a block held a repair to a quarter of a fetch).

// batchesInFlight is how many batches go to one peer at a time: two, so
// that one gathers and travels while the other is committed.
const batchesInFlight = 2

// batchTimeout bounds one batch, whoever's pushes it carries: a sender
// does not use any one caller's context, since that caller may give up
// while the others still wait.
const batchTimeout = time.Minute

// pushQueue batches the node's pushes by peer.
type pushQueue struct {
	n       *Node
	mu      sync.Mutex
	by      map[peer.ID]*peerQueue
	batches atomic.Int64 // batches sent
}

type peerQueue struct {
	waiting []*queuedPush
	sending int // senders running for this peer
}

type queuedPush struct {
	item exchange.PushItem
	done chan error // buffered: the sender never waits on it
}

func newPushQueue(n *Node) *pushQueue {
	return &pushQueue{n: n, by: map[peer.ID]*peerQueue{}}
}

// push offers p one block and returns once p has it durably, or why not,
// as exchange.Client.Push does. data must stay valid until it returns.
func (q *pushQueue) push(ctx context.Context, p peer.ID, c cid.Cid, data []byte) error {
	if !q.n.client.Batches(p) {
		return q.n.client.Push(ctx, p, c, data)
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
		if !q.n.goBG(func() { q.send(p, pq) }) {
			pq.sending--
			pq.waiting = slices.DeleteFunc(pq.waiting, func(o *queuedPush) bool { return o == qp })
			q.mu.Unlock()
			return q.n.ctx.Err()
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
	// (within batchTimeout).
	<-qp.done
	return ctx.Err()
}

// send sends p's queued pushes in batches until none are left.
func (q *pushQueue) send(p peer.ID, pq *peerQueue) {
	for {
		q.mu.Lock()
		n := min(len(pq.waiting), exchange.MaxPushBatch)
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
		ctx, cancel := context.WithTimeout(q.n.ctx, batchTimeout)
		q.batches.Add(1)
		errs := q.n.client.PushBatch(ctx, p, items)
		cancel()
		for i, qp := range batch {
			qp.done <- errs[i]
		}
	}
}
