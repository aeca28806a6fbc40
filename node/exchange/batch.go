package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// BatchProtocolID names the protocol's version with batched pushes. On
// its streams a PUSH may be followed by more, up to MaxPushBatch in all,
// answered together once one commit has made the blocks taken durable;
// every other request is served as on ProtocolID. A node serves both, and
// pushes in batches only to peers that announce this one (identify), so
// nodes that predate it are still pushed to one block a stream.
const BatchProtocolID = "/cairn/block/1.1.0"

// MaxPushBatch bounds the pushes of one batch (up to 8 MiB of cairn's
// leaves; a cairn sender puts at most 2 MiB in one), and so the replies
// held back until the commit.
const MaxPushBatch = 32

// PushBatch takes the blocks of one batched push, in order.
type PushBatch interface {
	// Take writes a pushed block, durable only once Commit returns, or
	// refuses it with a *RefusedError (another error is reported to the
	// pusher as busy). data is valid only until it returns.
	Take(ctx context.Context, c cid.Cid, data []byte) error
	// Commit makes every block Take wrote durable. Its error refuses
	// them all as busy.
	Commit(ctx context.Context) error
}

// singles is the PushBatch of a server given only OnPush: each block is
// durable when Take returns.
type singles struct {
	on   PushHandler
	from peer.ID
}

func (s singles) Take(ctx context.Context, c cid.Cid, data []byte) error {
	return s.on(ctx, s.from, c, data)
}

func (singles) Commit(context.Context) error { return nil }

// pushBatch returns the batch that takes from's pushes.
func (s *Server) pushBatch(from peer.ID) PushBatch {
	if s.cfg.OnPushBatch != nil {
		return s.cfg.OnPushBatch(from)
	}
	return singles{on: s.cfg.OnPush, from: from}
}

// servePushes serves a stream of pushes that began with first: each is
// taken as it arrives, into the one frame buffer, and the replies, one a
// push in order, go out after the commit. On a ProtocolID stream the
// first push is the only one.
func (s *Server) servePushes(ctx context.Context, st network.Stream, r *bufio.Reader, w *bufio.Writer, from peer.ID, first, buf []byte) (err error) {
	if s.cfg.OnPush == nil && s.cfg.OnPushBatch == nil {
		return writeRefusal(w, RefuseUnwanted, "this node takes no pushes")
	}
	batched := st.Protocol() == BatchProtocolID
	b := s.pushBatch(from)
	var cids []cid.Cid
	var taken []error
	body, release := first, func() {} // the first body is handle's to release
	committed := false
	defer func() {
		if err != nil && len(cids) > 0 && !committed {
			// The batch broke off unanswered: what was taken is committed
			// (and announced) all the same, as a lone push's would be,
			// rather than left to the next commit.
			b.Commit(ctx)
		}
	}()
	for {
		c, data, err := readCID(body)
		if err == nil {
			cids = append(cids, c)
			taken = append(taken, b.Take(ctx, c, data))
		}
		release()
		if err != nil {
			return err
		}
		if !batched {
			break
		}
		st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		typ, n, err := readHeader(r, s.requestLimit)
		if errors.Is(err, io.EOF) {
			break // the pusher closed its side: the batch is whole
		}
		if err != nil {
			return err
		}
		if typ != typePush {
			return protoErr("request type %#x in a batch of pushes", typ)
		}
		if len(cids) == MaxPushBatch {
			return protoErr("more than %d pushes in a batch", MaxPushBatch)
		}
		body, release, err = readBodyReserved(st.Scope(), r, n, buf)
		if err != nil {
			return err
		}
	}
	st.SetReadDeadline(time.Time{})
	commitErr := b.Commit(ctx)
	committed = true
	for i, c := range cids {
		err := taken[i]
		if err == nil {
			err = commitErr
		}
		if err := s.writePushReply(w, from, c, err); err != nil {
			return err
		}
	}
	return nil
}

// writePushReply answers one push: stored, or why not.
func (s *Server) writePushReply(w *bufio.Writer, from peer.ID, c cid.Cid, err error) error {
	var ref *RefusedError
	switch {
	case err == nil:
		return writeFrame(w, typeStored)
	case errors.As(err, &ref):
		return writeRefusal(w, ref.Code, ref.Reason)
	default:
		// The error is the node's own business (paths, internals): the
		// pusher learns only that it may try elsewhere or later.
		if s.cfg.Logf != nil {
			s.cfg.Logf("exchange: push of %s from %s: %v", c, from, err)
		}
		return writeRefusal(w, RefuseBusy, "the block could not be stored")
	}
}

func writeRefusal(w *bufio.Writer, code RefuseCode, reason string) error {
	return writeFrame(w, typeRefused, append([]byte{byte(code)}, reason...))
}

// PushItem is one block of a batched push.
type PushItem struct {
	CID  cid.Cid
	Data []byte
}

// Batches reports whether p takes batched pushes, as far as identify has
// told this host.
func (c *Client) Batches(p peer.ID) bool {
	ok, err := c.h.Peerstore().SupportsProtocols(p, protocol.ID(BatchProtocolID))
	return err == nil && len(ok) > 0
}

// PushBatch offers p up to MaxPushBatch blocks on one stream. errs[i] is
// nil once p has block i durably, a *RefusedError saying why p would not
// take it, or the error that ended the stream. A peer that does not take
// batches (Batches) is sent the blocks one push at a time.
func (c *Client) PushBatch(ctx context.Context, p peer.ID, items []PushItem) []error {
	errs := make([]error, len(items))
	if len(items) == 0 || len(items) > MaxPushBatch {
		err := fmt.Errorf("exchange: batch of %d pushes (1 to %d)", len(items), MaxPushBatch)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if !c.Batches(p) {
		for i, it := range items {
			errs[i] = c.Push(ctx, p, it.CID, it.Data)
		}
		return errs
	}
	// fail gives the error that ended the stream to the blocks not yet
	// answered (replies come after the commit: those before are durable).
	fail := func(from int, err error) []error {
		for i := from; i < len(errs); i++ {
			errs[i] = err
		}
		return errs
	}
	st, err := c.h.NewStream(ctx, p, BatchProtocolID)
	if err != nil {
		return fail(0, fmt.Errorf("exchange: open stream to %s: %w", p, err))
	}
	defer context.AfterFunc(ctx, func() { st.Reset() })()
	w := bufio.NewWriterSize(st, 64<<10)
	for _, it := range items {
		if err := writeFrame(w, typePush, appendCID(nil, it.CID), it.Data); err != nil {
			st.Reset()
			return fail(0, c.wrap(ctx, p, err))
		}
	}
	if err := w.Flush(); err != nil {
		st.Reset()
		return fail(0, c.wrap(ctx, p, err))
	}
	if err := st.CloseWrite(); err != nil {
		st.Reset()
		return fail(0, c.wrap(ctx, p, err))
	}
	r := bufio.NewReaderSize(st, 4096)
	for i := range items {
		typ, body, err := c.readReply(st, r)
		if err != nil {
			st.Reset()
			return fail(i, c.wrap(ctx, p, err))
		}
		errs[i] = pushReply(typ, body)
		if errors.Is(errs[i], ErrProtocol) {
			st.Reset()
			return fail(i, fmt.Errorf("exchange: push to %s: %w", p, errs[i]))
		}
	}
	st.Close()
	return errs
}

// pushReply is what a reply to a push says: nil for stored, a
// *RefusedError, or a protocol violation.
func pushReply(typ byte, body []byte) error {
	switch {
	case typ == typeStored && len(body) == 0:
		return nil
	case typ == typeRefused && len(body) >= 1:
		return &RefusedError{Code: RefuseCode(body[0]), Reason: sanitizeReason(body[1:])}
	}
	return protoErr("bad reply type %#x to a push", typ)
}
