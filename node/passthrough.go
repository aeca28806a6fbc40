package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A node whose store has no room still serves reads of what it does not
// hold. Once a read's fetch has failed for want of room, each block the
// read needs is wanted from a holder on its own and handed over without
// being stored, so it is neither kept nor announced. That is slower than
// a fetch (one want per block; a stream has as many at once as it reads
// ahead), but a full disk no longer turns the node's gateway away from
// every file, folder or CAR it does not hold.

// PassedThrough counts the blocks reads got from holders and served
// without storing them, since start.
func (n *Node) PassedThrough() int64 { return n.passed.Load() }

// NoRoom says whether err is a store refusing a write for lack of room:
// the block store's own capacity, or a full disk (or quota) under any of
// the repo's files.
func NoRoom(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrNoSpace) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// passHolders are the peers a read asks first for the blocks it passes
// through: those that served it, the last first, then those it was given.
type passHolders struct {
	mu     sync.Mutex
	given  []peer.ID
	served []peer.ID
}

func (h *passHolders) list() []peer.ID {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.served)
	for _, p := range h.given {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// servedBy puts p first.
func (h *passHolders) servedBy(p peer.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.served) > 0 && h.served[0] == p {
		return
	}
	h.served = slices.DeleteFunc(h.served, func(q peer.ID) bool { return q == p })
	h.served = slices.Insert(h.served, 0, p)
	if len(h.served) > maxServed {
		h.served = h.served[:maxServed]
	}
}

// maxServed bounds the peers a read remembers as having served it.
const maxServed = 16

// passThrough gets c's block from a holder into buf, without storing it:
// from h's peers, then from those a lookup finds.
func (n *Node) passThrough(ctx context.Context, c cid.Cid, h *passHolders, buf []byte) ([]byte, []byte, error) {
	tried := map[peer.ID]bool{}
	var last error
	for _, find := range []bool{false, true} {
		peers := h.list()
		if find {
			peers = n.findHolders(ctx, c)
		}
		for _, p := range peers {
			if tried[p] || !n.usable(p) {
				continue
			}
			tried[p] = true
			got := false
			_, err := n.client.Want(ctx, p, []cid.Cid{c}, func(_ cid.Cid, data []byte) error {
				buf, got = append(buf[:0], data...), true
				return nil
			})
			if got {
				h.servedBy(p)
				n.passed.Add(1)
				return buf, buf, nil
			}
			switch {
			case ctx.Err() != nil:
				return nil, buf, fmt.Errorf("pass %s through: %w", c, ctx.Err())
			case errors.Is(err, exchange.ErrBadContent):
				// The DAG's own bytes are malformed: no holder can help.
				return nil, buf, fmt.Errorf("pass %s through: %w", c, err)
			case errors.Is(err, exchange.ErrProtocol):
				n.misbehaved(p, err)
			}
			if err != nil {
				last = err
			}
		}
	}
	err := fmt.Errorf("pass %s through: the store has no room to fetch into, and no holder sent it: %w", c, ErrNoProvider)
	if last != nil {
		err = fmt.Errorf("%w (last: %w)", err, last)
	}
	return nil, buf, err
}

// passingGetter reads blocks from the store, mending rotted ones, and
// passes through those it does not hold.
type passingGetter struct {
	n *Node
	h *passHolders
}

func (g passingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := healingGetter{g.n}.Get(ctx, c)
	if errors.Is(err, store.ErrNotFound) {
		data, _, err = g.n.passThrough(ctx, c, g.h, nil)
	}
	return data, err
}
