package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnstore/cairn/node/exchange"
	"github.com/cairnstore/cairn/node/repair"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Every copy this node makes of a chunk, on a write, a repair or a drain,
// goes through place: the policy's View chooses the targets (repair.View
// Place, directly or through Decide) and place pushes to them in order.

// placed is what one placement achieved.
type placed struct {
	made  int       // copies the targets took
	tried []peer.ID // targets pushed to, in order, whether they took it or not
	err   error     // the first failed push, if any
}

// place carries out pl for key: it pushes to the targets in order, the
// first choices and then the fallbacks, each fallback standing in for a
// target that refused or failed, until pl.Need() copies are made or the
// targets run out. wait, if set, runs before each push and may hold it
// back (repair's bandwidth budget); its error ends the placement.
func (r *replicator) place(ctx context.Context, key mh.Multihash, pl repair.Placement, wait func(context.Context) error) placed {
	var res placed
	for _, p := range pl.Targets() {
		if res.made >= pl.Need() || ctx.Err() != nil {
			break
		}
		if wait != nil {
			if err := wait(ctx); err != nil {
				res.err = fmt.Errorf("push %s: %w", key.B58String(), err)
				break
			}
		}
		res.tried = append(res.tried, p)
		data, err := r.push(ctx, p, key)
		if err == nil {
			// "Stored" is a claim: the copy counts once p proves it kept
			// the bytes, with a nonce it could not have foreseen.
			own := func(mh.Multihash) ([]byte, error) { return data, nil }
			if v := r.challenge(ctx, p, []mh.Multihash{key}, true, own)[0]; v != proved {
				err = fmt.Errorf("%w (%s)", errNotProved, v)
			}
		}
		if err != nil {
			if res.err == nil {
				res.err = fmt.Errorf("push %s to %s: %w", key.B58String(), p, err)
			}
			continue
		}
		res.made++
	}
	return res
}

// placeAll places every key, pushConcurrency at a time: plan gives each
// key's placement from the view current when its turn comes (peers that
// refused earlier keys are passed over by then), and done, if set, gets
// the outcome.
func (r *replicator) placeAll(ctx context.Context, keys []mh.Multihash, plan func(*repair.View, mh.Multihash) repair.Placement, done func(mh.Multihash, placed)) {
	sem := make(chan struct{}, pushConcurrency)
	var wg sync.WaitGroup
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(k mh.Multihash) {
			defer func() { <-sem; wg.Done() }()
			res := r.place(ctx, k, plan(r.placement(), k), nil)
			if done != nil {
				done(k, res)
			}
		}(k)
	}
	wg.Wait()
}

// errNotProved is a push acknowledged by a peer that then failed to
// prove it holds the block.
var errNotProved = errors.New("stored, but not proved")

// push offers one block to p, returning the block, and has the policy
// pass p over for a while if it refused for any reason but being busy or
// not wanting this one block.
func (r *replicator) push(ctx context.Context, p peer.ID, key mh.Multihash) ([]byte, error) {
	data, err := r.n.store.GetHash(key)
	if err != nil {
		return nil, err
	}
	c := cid.NewCidV1(cid.Raw, key) // replicas go by multihash
	err = r.n.client.Push(ctx, p, c, data)
	if err == nil {
		r.bytes.Add(int64(len(data)))
	}
	var ref *exchange.RefusedError
	refused := errors.As(err, &ref)
	if err != nil && ctx.Err() == nil && !(refused && (ref.Code == exchange.RefuseBusy || ref.Code == exchange.RefuseUnwanted)) {
		// Full, leaving, not a cairn node, or not answering: pass it over
		// for a while so placement moves on to the next closest peer. A
		// peer that does not want this block (not among its closest in
		// its view) may want the next.
		r.send(peerEvent{kind: peerFull, p: p, at: time.Now()})
	}
	return data, err
}

// replicateWrite makes every key durable on W nodes, this one included,
// pushing to the closest live peers in order and moving past any that
// refuse, and returns the fewest copies any key reached. The copies from
// W to R are then pushed in the background (until the node closes; what
// is left undone, the repair walks finish), passing over the peers
// already tried.
func (r *replicator) replicateWrite(ctx context.Context, keys []mh.Multihash) int {
	least := r.cfg.WriteQuorum
	var mu sync.Mutex
	rest := map[string]restCopy{}
	var restKeys []mh.Multihash
	r.placeAll(ctx, keys, func(v *repair.View, k mh.Multihash) repair.Placement {
		return v.Place(k, nil, r.cfg.WriteQuorum-1) // this node holds one copy
	}, func(k mh.Multihash, res placed) {
		mu.Lock()
		defer mu.Unlock()
		copies := 1 + res.made
		least = min(least, copies)
		rest[string(k)] = restCopy{copies, res.tried}
		restKeys = append(restKeys, k)
	})
	r.n.goBG(func() {
		r.placeAll(r.n.ctx, restKeys, func(v *repair.View, k mh.Multihash) repair.Placement {
			rc := rest[string(k)]
			return v.Place(k, rc.tried, r.cfg.Factor-rc.copies)
		}, nil)
	})
	return least
}

type restCopy struct {
	copies int
	tried  []peer.ID // peers that took it or refused it
}
