package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/time/rate"
)

// Push admission. A pushed block is taken from a stranger only when it
// belongs here: this node is among the R+2 closest peers to it that it
// has vouched for (see repair.View.Keeps). A peer this node has vouched
// for may place blocks farther out, as its fallbacks do when the closer
// peers are full; a distrusted peer may place nothing. Within that, each
// peer has a rate (bytes per second) and a quota: the bytes its pushes
// keep here while no pin claims them. Pushes a pin claims (the indexer
// has reached them from a root of the cluster's pin set) are credited
// back; the sweep frees the ones no pin claims within the unpin grace. A
// peer pushing unsolicited blocks therefore gets "unwanted" for most and
// fills at most its quota with the rest, until the sweep frees them.

// minCharge is what the smallest push costs against a quota, so that a
// quota also bounds how many blocks (and ledger entries) a peer can have
// here.
const minCharge = 4 << 10

// settleEvery bounds how often a peer at its quota has its ledger checked
// against the index for blocks claimed since: the check costs a lookup a
// block.
const settleEvery = time.Second

// admission keeps every pushing peer's rate and quota.
type admission struct {
	quota, rate int64
	claimed     func(mh.Multihash) bool // a pin claims it, or it is gone

	mu    sync.Mutex
	peers map[peer.ID]*pushLedger
}

// pushLedger is one peer's account.
type pushLedger struct {
	limiter   *rate.Limiter
	unclaimed int64
	blocks    map[string]int64 // unclaimed block → bytes charged
	settled   time.Time
}

func newAdmission(quota, bytesPerSec int64, claimed func(mh.Multihash) bool) *admission {
	return &admission{quota: quota, rate: bytesPerSec, claimed: claimed, peers: map[peer.ID]*pushLedger{}}
}

// maxLedgers is how many peers' accounts are kept before the ones with
// nothing unclaimed are forgotten (their rate starts afresh).
const maxLedgers = 4096

func (a *admission) ledger(p peer.ID) *pushLedger {
	l := a.peers[p]
	if l == nil {
		if len(a.peers) >= maxLedgers {
			for id, o := range a.peers {
				if o.unclaimed == 0 {
					delete(a.peers, id)
				}
			}
		}
		burst := int(min(a.rate, 1<<30))
		l = &pushLedger{limiter: rate.NewLimiter(rate.Limit(a.rate), burst), blocks: map[string]int64{}}
		a.peers[p] = l
	}
	return l
}

// The busy answers of admission.
const (
	overRate  = "over this node's push rate for one peer"
	overQuota = "over this node's quota of unclaimed pushes for one peer"
)

// reserve checks that p may push size more bytes now and returns why
// not, or "". The caller stores the block and then calls charge.
func (a *admission) reserve(p peer.ID, size int, now time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.ledger(p)
	if !l.limiter.AllowN(now, min(size, l.limiter.Burst())) {
		return overRate
	}
	c := max(int64(size), minCharge)
	if l.unclaimed+c >= a.quota && now.Sub(l.settled) >= settleEvery {
		l.settled = now
		// The index is asked without the lock: a settle looks up every
		// block on the ledger, and pushes from other peers go on.
		keys := make([]string, 0, len(l.blocks))
		for k := range l.blocks {
			keys = append(keys, k)
		}
		a.mu.Unlock()
		var gone []string
		for _, k := range keys {
			if a.claimed(mh.Multihash(k)) {
				gone = append(gone, k)
			}
		}
		a.mu.Lock()
		for _, k := range gone {
			if b, ok := l.blocks[k]; ok {
				delete(l.blocks, k)
				l.unclaimed -= b
			}
		}
	}
	if l.unclaimed+c >= a.quota {
		return overQuota
	}
	return ""
}

// charge books a block p pushed and this node stored.
func (a *admission) charge(p peer.ID, k mh.Multihash, size int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.ledger(p)
	if _, dup := l.blocks[string(k)]; dup {
		return
	}
	c := max(int64(size), minCharge)
	l.blocks[string(k)] = c
	l.unclaimed += c
}

// Unclaimed is how many bytes p's pushes keep here unclaimed, as far as
// the ledger knows (it is settled lazily).
func (a *admission) unclaimed(p peer.ID) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.peers[p]; l != nil {
		return l.unclaimed
	}
	return 0
}

// invalidReason names what was wrong with a pushed block in words the
// pusher may see: the sentinel's, not the error's text.
func invalidReason(err error) string {
	for _, s := range []error{chunk.ErrHashMismatch, chunk.ErrTooLarge, chunk.ErrBadNode, chunk.ErrUnsupportedHash, chunk.ErrUnsupportedCodec} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "invalid block"
}

// onPush takes a block another node places here: verified, then stored
// and fsynced with its duty mark in one commit, and announced, before it
// is acknowledged; refused when the store is full.
func (n *Node) onPush(ctx context.Context, from peer.ID, c cid.Cid, data []byte) error {
	b := n.pushBatch(from)
	if err := b.Take(ctx, c, data); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// pushBatch takes the pushes of one stream from a peer: each is checked
// and written as it comes, and one commit makes them all durable, with
// their duty marks, before any is acknowledged and announced.
func (n *Node) pushBatch(from peer.ID) exchange.PushBatch {
	return &pushSession{n: n, from: from}
}

type pushSession struct {
	n     *Node
	from  peer.ID
	taken []mh.Multihash
}

func (s *pushSession) Take(ctx context.Context, c cid.Cid, data []byte) error {
	n, from := s.n, s.from
	if n.draining.Load() {
		return &exchange.RefusedError{Code: exchange.RefuseLeaving, Reason: "this node is draining"}
	}
	if chunk.IsIdentity(c) {
		// Its bytes are in the CID: there is nothing to keep, and Has
		// answers yes for it, which would let it past admission.
		return &exchange.RefusedError{Code: exchange.RefuseInvalid, Reason: "an identity CID holds its data itself"}
	}
	held := n.Has(c)
	if !held {
		v := n.rep.placement()
		switch {
		case v.Distrusted(from):
			return &exchange.RefusedError{Code: exchange.RefuseUnwanted, Reason: "pusher failed a proof of possession"}
		case !v.Vouched(from) && !v.Keeps(c.Hash(), n.rep.cfg.Factor+repairSlack):
			// A peer this node has vouched for may place a block farther
			// out (the closer peers were full or left, which this node may
			// not know yet); a stranger only where the block belongs.
			return &exchange.RefusedError{Code: exchange.RefuseUnwanted, Reason: "not among the closest peers to this block"}
		}
		if why := n.rep.admit.reserve(from, len(data), time.Now()); why != "" {
			return &exchange.RefusedError{Code: exchange.RefuseBusy, Reason: why}
		}
	}
	if err := n.writeReplica(c, data); err != nil {
		// The error's text goes to the log; the pusher learns its kind.
		n.logf("push from %s: %s: %v", from, c, err)
		return pushRefusal(err)
	}
	if !held {
		n.rep.admit.charge(from, c.Hash(), len(data))
	}
	s.taken = append(s.taken, c.Hash())
	return nil
}

func (s *pushSession) Commit(context.Context) error {
	if len(s.taken) == 0 {
		return nil
	}
	if err := s.n.commitReplicas(); err != nil {
		s.n.logf("push from %s: commit of %d blocks: %v", s.from, len(s.taken), err)
		return pushRefusal(err)
	}
	s.n.announce(s.taken)
	return nil
}

// pushRefusal is the refusal the pusher sees for a write or commit that
// failed: its kind, never this node's own error text (paths, sizes). An
// error of no known kind is passed on, and the pusher is told busy.
func pushRefusal(err error) error {
	switch {
	case NoRoom(err):
		return &exchange.RefusedError{Code: exchange.RefuseFull, Reason: "no room"}
	case errors.Is(err, chunk.ErrHashMismatch), errors.Is(err, chunk.ErrTooLarge), errors.Is(err, chunk.ErrBadNode),
		errors.Is(err, chunk.ErrUnsupportedHash), errors.Is(err, chunk.ErrUnsupportedCodec):
		return &exchange.RefusedError{Code: exchange.RefuseInvalid, Reason: invalidReason(err)}
	}
	return err
}

// repairSlack is the repair policy's default Slack: a block's place is
// among its R+repairSlack closest peers.
const repairSlack = 2
