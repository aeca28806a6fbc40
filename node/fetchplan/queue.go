package fetchplan

import (
	"container/heap"
	"encoding/binary"
	"slices"

	"github.com/ipfs/go-cid"
)

// pos is a block's place in its DAG: the indices of the links that lead
// to it from the root, each in an order-preserving, prefix-free code, so
// that comparing two as strings orders them depth-first, as a reader
// reads the DAG. The root's is "".
//
// The queue goes by it rather than by when a block was found: a fetch
// has many inner nodes in flight at once, and when each one's children
// went to the front as it arrived, a 512 MiB file came in reverse, a
// 45 MiB subtree at a time, while a streaming reader waited at its start
// for blocks asked one by one.
type pos string

// child is the place of the i-th link of the block at p: 2 bytes for the
// first 32,768 links of a node, 4 with the top bit set past them.
func (p pos) child(i int) pos {
	var b [4]byte
	if i < 1<<15 {
		binary.BigEndian.PutUint16(b[:2], uint16(i))
		return p + pos(b[:2])
	}
	binary.BigEndian.PutUint32(b[:], uint32(i)|1<<31)
	return p + pos(b[:])
}

// queue holds the queued blocks, first in the DAG's order at the top of
// a heap. Entries whose block is no longer queued (taken, moved to the
// urgent list, or queued again meanwhile under a second entry) are left
// in place and skipped when they come up.
type queue struct{ h entries }

type entry struct {
	at pos
	c  cid.Cid
}

type entries []entry

func (e entries) Len() int           { return len(e) }
func (e entries) Less(i, j int) bool { return e[i].at < e[j].at }
func (e entries) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *entries) Push(x any)        { *e = append(*e, x.(entry)) }
func (e *entries) Pop() any {
	old := *e
	x := old[len(old)-1]
	old[len(old)-1] = entry{}
	*e = old[:len(old)-1]
	return x
}

func (q *queue) push(c cid.Cid, at pos) { heap.Push(&q.h, entry{at, c}) }

// trim drops the stale entries at the top.
func (q *queue) trim(p *Plan) {
	for len(q.h) > 0 && p.blocks[q.h[0].c].st != queued {
		heap.Pop(&q.h)
	}
}

// first returns a queued block that peer has not refused (peer "": any),
// the first in order unless the first are refused; cid.Undef if none.
func (q *queue) first(p *Plan, peer string) cid.Cid {
	q.trim(p)
	for _, e := range q.h { // the top first
		if p.blocks[e.c].st == queued && (peer == "" || !p.isRefused(e.c, peer)) {
			return e.c
		}
	}
	return cid.Undef
}

// take returns up to n queued blocks that peer has not refused, first in
// order first; the caller marks them in flight.
func (q *queue) take(p *Plan, peer string, n int) []cid.Cid {
	var batch []cid.Cid
	var skipped []entry // queued, but refused by peer: they stay
	for len(q.h) > 0 && len(batch) < n {
		e := heap.Pop(&q.h).(entry)
		switch {
		case p.blocks[e.c].st != queued || slices.Contains(batch, e.c):
		case p.isRefused(e.c, peer):
			skipped = append(skipped, e)
		default:
			if batch == nil {
				batch = make([]cid.Cid, 0, n)
			}
			batch = append(batch, e.c)
		}
	}
	for _, e := range skipped {
		heap.Push(&q.h, e)
	}
	return batch
}

// within reports whether c is among the first n queued blocks.
func (q *queue) within(p *Plan, c cid.Cid, n int) bool {
	var out []entry
	found := false
	for len(q.h) > 0 && len(out) < n {
		e := heap.Pop(&q.h).(entry)
		if p.blocks[e.c].st != queued {
			continue // stale: dropped
		}
		out = append(out, e)
		if e.c == c {
			found = true
			break
		}
	}
	for _, e := range out {
		heap.Push(&q.h, e)
	}
	return found
}
