package node

import (
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Proof of possession. A have-probe is a claim; where a copy is to count
// toward something that lets copies go (the write quorum, R in a walk, a
// drain, a surplus drop) its holder answers a challenge only the bytes
// answer (exchange.Proof with a fresh nonce), checked here against this
// node's own copy, which the store verified against its hash. Peers that
// lie are distrusted by the policy (passed over for placement, admission
// and counting for Config.DistrustFor); peers that prove are vouched for.

// auditSample is how many of a peer's claims a walk checks at random.
const auditSample = 16

// verdict is what one proof showed.
type verdict uint8

const (
	unchecked  verdict = iota // no copy here to check the proof by
	unanswered                // the peer did not answer the challenge
	proved
	absent // the peer says it does not hold the block
	lied   // the peer claimed the block with a wrong proof
)

// ProofStats count the challenges this node made.
type ProofStats struct {
	Challenged int64 // blocks challenged
	Proved     int64 // proofs that checked out
	Failed     int64 // lies caught (wrong proofs)
}

// challenge asks p to prove it holds keys, MaxProve a request, and checks
// each answer against own(key), this node's copy. A wrong proof is a lie
// (an honest peer that cannot read a block says it lacks it) and gets p
// distrusted; a proof vouches for it. stored says p told us it stored
// every key (a push just acknowledged): a block it then says it lacks is
// not counted and has p passed over as a full peer is, for a while, not
// distrusted: an honest peer's sweep can free a block it already held
// between the push and the proof.
//
// nonce, if set, is used for every request instead of a fresh one each:
// a write chooses one before its pushes, so that it can work out the
// proofs it expects while it has the bytes in hand rather than read them
// back. It stays secret until the proofs are asked for.
func (r *replicator) challenge(ctx context.Context, p peer.ID, keys []mh.Multihash, stored bool, nonce []byte, expect expectFunc) []verdict {
	out := make([]verdict, len(keys))
	liar, good, lost, missing := false, false, false, false
	fresh := nonce == nil
	for start := 0; start < len(keys) && ctx.Err() == nil; start += exchange.MaxProve {
		batch := keys[start:min(start+exchange.MaxProve, len(keys))]
		if fresh {
			nonce = newNonce()
		}
		cids := make([]cid.Cid, len(batch))
		for i, k := range batch {
			cids[i] = cid.NewCidV1(cid.Raw, k)
		}
		proofs, err := r.n.client.Prove(ctx, p, nonce, cids)
		if err != nil {
			for i := range batch {
				out[start+i] = unanswered
			}
			continue
		}
		r.proofs.challenged.Add(int64(len(batch)))
		for i, k := range batch {
			want, err := expect(nonce, k)
			if err != nil {
				continue // our own copy is gone or bad: cannot judge
			}
			v := proved
			switch {
			case !exchange.Held(proofs[i]):
				v = absent
				lost = lost || stored
				missing = true
			case proofs[i] != want:
				v = lied
			}
			out[start+i] = v
			switch v {
			case proved:
				good = true
				r.proofs.proved.Add(1)
			case lied:
				liar = true
				r.proofs.failed.Add(1)
			}
		}
	}
	switch {
	case liar:
		r.n.logf("repair: %s failed a proof of possession: distrusted", p)
		r.send(peerEvent{kind: peerFailed, p: p, at: time.Now()})
	case lost:
		r.n.logf("repair: %s acknowledged a copy it could not prove: passed over for a while", p)
		r.send(peerEvent{kind: peerFull, p: p, at: time.Now()})
	case good && !missing:
		// Vouched for only when it backed every block asked of it.
		r.send(peerEvent{kind: peerProved, p: p, at: time.Now()})
	}
	return out
}

// expectFunc gives the proof an honest holder of k answers to nonce.
type expectFunc func(nonce []byte, k mh.Multihash) ([exchange.ProofSize]byte, error)

// ownProof works out the expected proof from this node's copy of the
// block, which the store checks as it reads it.
func (r *replicator) ownProof(nonce []byte, k mh.Multihash) ([exchange.ProofSize]byte, error) {
	data, release, err := r.readPooled(context.Background(), k)
	defer release()
	if err != nil {
		return [exchange.ProofSize]byte{}, err
	}
	return exchange.Proof(nonce, data), nil
}

func newNonce() []byte {
	n := make([]byte, exchange.NonceSize)
	rand.Read(n)
	return n
}

// claims inverts holders: the keys each other peer claimed.
func (r *replicator) claims(keys []mh.Multihash, holders map[string][]peer.ID) map[peer.ID][]mh.Multihash {
	self := r.n.host.ID()
	out := map[peer.ID][]mh.Multihash{}
	for _, k := range keys {
		for _, h := range holders[string(k)] {
			if h != self {
				out[h] = append(out[h], k)
			}
		}
	}
	return out
}

// forEachPeer runs fn for every peer of claims, pushConcurrency at once.
func forEachPeer(claims map[peer.ID][]mh.Multihash, fn func(peer.ID, []mh.Multihash)) {
	sem := make(chan struct{}, pushConcurrency)
	var wg sync.WaitGroup
	for p, ks := range claims {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(p, ks)
		}()
	}
	wg.Wait()
}

// audit checks a walk's have-probe claims the way Storj audits: every
// peer that claimed keys proves auditSample of them, picked at random,
// with a fresh nonce. A peer that lied, did not answer, or cannot back a
// sampled claim is counted as holding none of them this walk. The claims
// not sampled count on the strength of the sample.
func (r *replicator) audit(ctx context.Context, keys []mh.Multihash, holders map[string][]peer.ID) {
	var mu sync.Mutex
	drop := map[peer.ID]map[string]bool{} // nil value: every claim
	forEachPeer(r.claims(keys, holders), func(p peer.ID, ks []mh.Multihash) {
		sample := ks
		if len(ks) > auditSample {
			sample = make([]mh.Multihash, auditSample)
			for i, j := range mrand.Perm(len(ks))[:auditSample] {
				sample[i] = ks[j]
			}
		}
		vs := r.challenge(ctx, p, sample, false, nil, r.ownProof)
		mu.Lock()
		defer mu.Unlock()
		for _, v := range vs {
			if v == lied || v == unanswered || v == absent {
				// A liar, a peer that would not answer, or one that said
				// it held a block it then could not prove: none of its
				// claims count this walk, or a peer that keeps a few
				// blocks and claims the rest would hold chunks at R-1
				// copies for good. An honest holder that freed a block
				// between the probe and the proof costs a repair too
				// many, which the surplus rule drops.
				drop[p] = nil
				return
			}
		}
	})
	r.withdraw(keys, holders, drop)
}

// proveAll keeps in holders only the claims that are proved: every claim
// of every other peer on keys is challenged, MaxProve a request. It gates
// the decisions that let copies go (surplus drops, a drain).
func (r *replicator) proveAll(ctx context.Context, keys []mh.Multihash, holders map[string][]peer.ID) {
	var mu sync.Mutex
	drop := map[peer.ID]map[string]bool{}
	forEachPeer(r.claims(keys, holders), func(p peer.ID, ks []mh.Multihash) {
		vs := r.challenge(ctx, p, ks, false, nil, r.ownProof)
		mu.Lock()
		defer mu.Unlock()
		bad := map[string]bool{}
		for i, v := range vs {
			if v == lied {
				drop[p] = nil
				return
			}
			if v != proved {
				bad[string(ks[i])] = true
			}
		}
		drop[p] = bad
	})
	r.withdraw(keys, holders, drop)
}

// withdraw takes claims out of holders: for each peer in drop, the keys
// in its set, or all of them when the set is nil.
func (r *replicator) withdraw(keys []mh.Multihash, holders map[string][]peer.ID, drop map[peer.ID]map[string]bool) {
	for _, k := range keys {
		hs := holders[string(k)]
		kept := hs[:0]
		for _, h := range hs {
			set, hit := drop[h]
			if hit && (set == nil || set[string(k)]) {
				continue
			}
			kept = append(kept, h)
		}
		holders[string(k)] = kept
	}
}

func (v verdict) String() string {
	switch v {
	case unanswered:
		return "no answer to the challenge"
	case proved:
		return "proved"
	case absent:
		return "absent"
	case lied:
		return "wrong proof"
	}
	return "unchecked"
}
