package repair

import (
	"container/heap"
	"time"

	mh "github.com/multiformats/go-multihash"
)

// Queue orders repairs most-endangered first: chunks with fewer live
// copies go before chunks with more, and among equals, first come first.
// A chunk queued again keeps one entry, at its most endangered count.
type Queue struct {
	h     itemHeap
	index map[string]*item
	seq   uint64
}

type item struct {
	key  mh.Multihash
	live int
	seq  uint64
	pos  int
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].live != h[j].live {
		return h[i].live < h[j].live
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *itemHeap) Push(x any) {
	it := x.(*item)
	it.pos = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Push queues a chunk with its live copy count.
func (q *Queue) Push(key mh.Multihash, live int) {
	if q.index == nil {
		q.index = map[string]*item{}
	}
	if it, ok := q.index[string(key)]; ok {
		if live < it.live {
			it.live = live
			heap.Fix(&q.h, it.pos)
		}
		return
	}
	q.seq++
	it := &item{key: key, live: live, seq: q.seq}
	q.index[string(key)] = it
	heap.Push(&q.h, it)
}

// Pop takes the most endangered chunk.
func (q *Queue) Pop() (mh.Multihash, int, bool) {
	if len(q.h) == 0 {
		return nil, 0, false
	}
	it := heap.Pop(&q.h).(*item)
	delete(q.index, string(it.key))
	return it.key, it.live, true
}

// Len is the number of queued chunks.
func (q *Queue) Len() int { return len(q.h) }

// Budget is a token bucket of bytes per second for repair traffic, driven
// by the caller's clock so that simulations control time.
type Budget struct {
	rate   float64 // bytes per second; <= 0 means unlimited
	burst  float64
	tokens float64
	last   time.Time
}

// NewBudget allows rate bytes per second with bursts of burst bytes.
func NewBudget(rate, burst int64) *Budget {
	return &Budget{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

// Take spends n bytes at now and returns how long the caller must wait
// before sending them (0: send now). Waiting the returned time and calling
// Take again is not needed: the bytes are accounted for.
func (b *Budget) Take(n int64, now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
