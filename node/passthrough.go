package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A node whose store has no room still serves reads of what it does not
// hold. Once a stream's fetch has failed for want of room, each block the
// reader asks for is fetched on its own and handed to the reader without
// being stored, so it is neither kept nor announced. That is slower than
// a fetch (one want per block, as many at once as the reader reads
// ahead), but a full disk no longer turns the node's gateway away from
// every file it does not hold.

// noRoom says whether err is a store refusing a block for lack of room.
func noRoom(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrNoSpace)
}

// passThrough gets c's block from a holder into buf, without storing it:
// from the holders that served this stream before, then from those a
// lookup finds.
func (s *Stream) passThrough(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	tried := map[peer.ID]bool{}
	for _, find := range []bool{false, true} {
		holders := s.knownHolders()
		if find {
			holders = s.n.findHolders(ctx, c)
		}
		for _, p := range holders {
			if tried[p] || !s.n.usable(p) {
				continue
			}
			tried[p] = true
			got := false
			_, err := s.n.client.Want(ctx, p, []cid.Cid{c}, func(_ cid.Cid, data []byte) error {
				buf, got = append(buf[:0], data...), true
				return nil
			})
			if got {
				s.servedBy(p)
				return buf, buf, nil
			}
			switch {
			case ctx.Err() != nil:
				return nil, buf, fmt.Errorf("stream %s: %w", c, ctx.Err())
			case errors.Is(err, exchange.ErrProtocol):
				s.n.misbehaved(p, err)
			}
		}
	}
	return nil, buf, fmt.Errorf("stream %s: the store has no room to fetch into, and no holder sent it: %w", c, ErrNoProvider)
}

// knownHolders lists the peers to ask first: those that served this
// stream, the one that served last first, then the providers it was
// given.
func (s *Stream) knownHolders() []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.holders)
	for _, p := range s.opts.Providers {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// servedBy puts p first among the peers asked.
func (s *Stream) servedBy(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.holders) > 0 && s.holders[0] == p {
		return
	}
	s.holders = slices.DeleteFunc(s.holders, func(q peer.ID) bool { return q == p })
	s.holders = slices.Insert(s.holders, 0, p)
	if len(s.holders) > maxStreamHolders {
		s.holders = s.holders[:maxStreamHolders]
	}
}

// maxStreamHolders bounds the peers a stream remembers as holders.
const maxStreamHolders = 16
