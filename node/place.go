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
	made   int       // copies the targets took (and proved, when asked to)
	stored []peer.ID // the targets that took a copy
	tried  []peer.ID // targets pushed to, in order, whether they took it or not
	err    error     // the first failed push, if any
}

// proof says whether place has each target prove its copy at once
// (proveEach), or leaves the proofs to its caller, which batches them:
// then made counts acknowledged copies.
type proof struct {
	defer_ bool
	// nonce and expect, when deferring: the nonce the proofs will be
	// asked with, and where the proof each acknowledged block should
	// bring is put while its bytes are in hand.
	nonce  []byte
	expect func(mh.Multihash, [exchange.ProofSize]byte)
}

var proveEach = proof{}

// place carries out pl for key: it pushes to the targets in order, the
// first choices and then the fallbacks, each fallback standing in for a
// target that refused or failed, until pl.Need() copies are made or the
// targets run out. wait, if set, runs before each push and may hold it
// back (repair's bandwidth budget); its error ends the placement.
func (r *replicator) place(ctx context.Context, key mh.Multihash, pl repair.Placement, wait func(context.Context) error, pr proof) placed {
	var res placed
	if pl.Need() <= 0 || len(pl.Targets()) == 0 {
		return res
	}
	// The block is read once for all its targets.
	data, release, err := r.readPooled(ctx, key)
	defer release()
	if err != nil {
		res.err = fmt.Errorf("push %s: %w", key.B58String(), err)
		return res
	}
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
		err := r.push(ctx, p, key, data)
		switch {
		case err != nil:
		case pr.defer_:
			if len(res.stored) == 0 {
				pr.expect(key, exchange.Proof(pr.nonce, data))
			}
		default:
			// "Stored" is a claim: the copy counts once p proves it kept
			// the bytes, with a nonce it could not have foreseen.
			expect := func(nonce []byte, _ mh.Multihash) ([exchange.ProofSize]byte, error) {
				return exchange.Proof(nonce, data), nil
			}
			if v := r.challenge(ctx, p, []mh.Multihash{key}, true, nil, expect)[0]; v != proved {
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
		res.stored = append(res.stored, p)
	}
	return res
}

// placeAll places every key, pushConcurrency at a time: plan gives each
// key's placement from the view current when its turn comes (peers that
// refused earlier keys are passed over by then), and done, if set, gets
// the outcome.
func (r *replicator) placeAll(ctx context.Context, keys []mh.Multihash, plan func(*repair.View, mh.Multihash) repair.Placement, pr proof, done func(mh.Multihash, placed)) {
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
			res := r.place(ctx, k, plan(r.placement(), k), nil, pr)
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

// blockBufs holds the buffers readPooled reads blocks into: a fresh one
// per read cost page faults on every block a repair pushed or proved.
var blockBufs = sync.Pool{New: func() any { return new([]byte) }}

// readPooled reads k's block into a pooled buffer. data is valid until
// release, which the caller calls whatever the error.
func (r *replicator) readPooled(ctx context.Context, k mh.Multihash) (data []byte, release func(), err error) {
	bp := blockBufs.Get().(*[]byte)
	data, *bp, err = r.n.store.GetBuffer(ctx, cid.NewCidV1(cid.Raw, k), *bp)
	return data, func() { blockBufs.Put(bp) }, err
}

// push offers one block to p, and has the policy pass p over for a while
// if it refused for any reason but being busy or not wanting this one
// block.
func (r *replicator) push(ctx context.Context, p peer.ID, key mh.Multihash, data []byte) error {
	c := cid.NewCidV1(cid.Raw, key) // replicas go by multihash
	err := r.n.pushes.push(ctx, p, c, data)
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
	return err
}

// replicateWrite makes every key durable on W nodes, this one included,
// pushing to the closest live peers in order and moving past any that
// refuse, and returns the fewest copies any key reached. The copies from
// W to R are then pushed in the background (until the node closes; what
// is left undone, the repair walks finish), passing over the peers
// already tried.
func (r *replicator) replicateWrite(ctx context.Context, keys []mh.Multihash) int {
	// The first round pushes without waiting for proofs, which then go
	// out in batches of MaxProve per peer: a round trip and a read back
	// per request rather than per block. Copies that fail their proof are
	// made again, proved one by one, on the next closest peers.
	b := newBatchProof(len(keys))
	r.placeAll(ctx, keys, func(v *repair.View, k mh.Multihash) repair.Placement {
		return v.Place(k, nil, r.cfg.WriteQuorum-1) // this node holds one copy
	}, b.deferred(), b.record)
	r.proveBatch(ctx, keys, b)
	var short []mh.Multihash
	for _, k := range keys {
		if 1+len(b.copies[string(k)].stored) < r.cfg.WriteQuorum {
			short = append(short, k)
		}
	}
	r.placeAll(ctx, short, func(v *repair.View, k mh.Multihash) repair.Placement {
		rc := b.get(k) // record writes other keys meanwhile
		return v.Place(k, rc.tried, r.cfg.WriteQuorum-1-len(rc.stored))
	}, proveEach, b.record)
	least := r.cfg.WriteQuorum
	for _, k := range keys {
		least = min(least, 1+len(b.copies[string(k)].stored))
	}
	r.n.goBG(func() {
		r.placeAll(r.n.ctx, keys, func(v *repair.View, k mh.Multihash) repair.Placement {
			rc := b.copies[string(k)]
			return v.Place(k, rc.tried, r.cfg.Factor-1-len(rc.stored))
		}, proveEach, nil)
	})
	return least
}

// batchProof is a round of pushes whose proofs are asked for afterwards,
// in batches: the nonce they will be asked with (secret until then), the
// proof each pushed block should bring, worked out while its bytes were
// in hand, and the copies each key got.
type batchProof struct {
	nonce []byte

	mu       sync.Mutex
	expected map[string][exchange.ProofSize]byte
	copies   map[string]restCopy
}

func newBatchProof(n int) *batchProof {
	return &batchProof{nonce: newNonce(), expected: make(map[string][exchange.ProofSize]byte, n),
		copies: make(map[string]restCopy, n)}
}

// deferred is the proof mode for place: push now, prove in the batch.
func (b *batchProof) deferred() proof {
	return proof{defer_: true, nonce: b.nonce, expect: func(k mh.Multihash, p [exchange.ProofSize]byte) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.expected[string(k)] = p
	}}
}

// record adds what one placement of k achieved.
func (b *batchProof) record(k mh.Multihash, res placed) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rc := b.copies[string(k)]
	rc.tried = append(rc.tried, res.tried...)
	rc.stored = append(rc.stored, res.stored...)
	b.copies[string(k)] = rc
}

// get is k's copies so far, while placements may still be recording.
func (b *batchProof) get(k mh.Multihash) restCopy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.copies[string(k)]
}

// proveBatch has every peer that acknowledged copies of keys in b prove
// them, MaxProve a request, and keeps in each key's stored list only the
// peers that did. The placements that recorded into b have all returned.
func (r *replicator) proveBatch(ctx context.Context, keys []mh.Multihash, b *batchProof) {
	claims := map[peer.ID][]mh.Multihash{}
	for _, k := range keys {
		for _, p := range b.copies[string(k)].stored {
			claims[p] = append(claims[p], k)
		}
	}
	expect := func(_ []byte, k mh.Multihash) ([exchange.ProofSize]byte, error) {
		return b.expected[string(k)], nil // read-only now
	}
	var mu sync.Mutex
	proven := map[string][]peer.ID{}
	forEachPeer(claims, func(p peer.ID, ks []mh.Multihash) {
		vs := r.challenge(ctx, p, ks, true, b.nonce, expect)
		mu.Lock()
		defer mu.Unlock()
		for i, v := range vs {
			if v == proved {
				proven[string(ks[i])] = append(proven[string(ks[i])], p)
			}
		}
	})
	for _, k := range keys {
		rc := b.copies[string(k)]
		rc.stored = proven[string(k)]
		b.copies[string(k)] = rc
	}
}

type restCopy struct {
	stored []peer.ID // peers that took it (and, after proveBatch, proved it)
	tried  []peer.ID // peers pushed to, whether they took it or not
}
