package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Client makes requests of other peers.
type Client struct {
	h host.Host
	// StallTimeout bounds the wait for each reply frame: a provider that
	// goes quiet this long is given up on (default 10s).
	StallTimeout time.Duration
	// Verify checks each block a want brings before it is passed on
	// (default chunk.Verify: size, hash, codec). A client fetching blocks
	// of another kind (the pin set's deltas) sets its own.
	Verify func(cid.Cid, []byte) error
}

// NewClient returns a client that opens streams from h.
func NewClient(h host.Host) *Client {
	return &Client{h: h, StallTimeout: 10 * time.Second, Verify: chunk.Verify}
}

// open starts a request stream that ctx's end resets.
func (c *Client) open(ctx context.Context, p peer.ID) (network.Stream, func() bool, error) {
	st, err := c.h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, nil, fmt.Errorf("exchange: open stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	return st, stop, nil
}

func (c *Client) request(st network.Stream, typ byte, parts ...[]byte) error {
	w := bufio.NewWriterSize(st, 4096)
	if err := writeFrame(w, typ, parts...); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return st.CloseWrite()
}

func (c *Client) readReply(st network.Stream, r *bufio.Reader) (byte, []byte, error) {
	st.SetReadDeadline(time.Now().Add(c.StallTimeout))
	return readFrame(r, anyFrame)
}

// Want asks p for blocks and calls fn with each one it sends, in request
// order, after checking the bytes against the CID. The bytes are valid
// only until fn returns: the next block is read into the same buffer. It
// returns the CIDs p said it does not have. A reply that breaks the protocol (a block that
// does not match its CID, an unrequested CID, a malformed frame) ends the
// request with an error wrapping ErrProtocol; the block is never passed on.
func (c *Client) Want(ctx context.Context, p peer.ID, cids []cid.Cid, fn func(cid.Cid, []byte) error) ([]cid.Cid, error) {
	if len(cids) == 0 || len(cids) > MaxWant {
		return nil, fmt.Errorf("exchange: want of %d CIDs (1 to %d)", len(cids), MaxWant)
	}
	st, stop, err := c.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := c.request(st, typeWant, encodeCIDs(cids)); err != nil {
		st.Reset()
		return nil, fmt.Errorf("exchange: want from %s: %w", p, err)
	}
	r := bufio.NewReaderSize(st, 64<<10)
	buf := framePool.Get().(*[]byte)
	defer framePool.Put(buf)
	var dontHave []cid.Cid
	for _, want := range cids {
		st.SetReadDeadline(time.Now().Add(c.StallTimeout))
		typ, n, err := readHeader(r, anyFrame)
		var body []byte
		release := func() {}
		if err == nil {
			body, release, err = readBodyReserved(st.Scope(), r, n, *buf)
		}
		if err != nil {
			st.Reset()
			return dontHave, c.wrap(ctx, p, err)
		}
		got, data, err := readCID(body)
		if err == nil && !got.Equals(want) {
			err = protoErr("sent %s when %s was next", got, want)
		}
		if err == nil {
			switch typ {
			case typeBlock:
				if verr := c.Verify(want, data); verr != nil {
					if errors.Is(verr, chunk.ErrBadNode) {
						err = fmt.Errorf("%w: %s: %v", ErrBadContent, want, verr)
					} else {
						err = protoErr("block %s: %v", want, verr)
					}
				}
			case typeDontHave:
				if len(data) != 0 {
					err = protoErr("don't-have with a body")
				}
			default:
				err = protoErr("reply type %#x to a want", typ)
			}
		}
		if err != nil {
			release()
			st.Reset()
			return dontHave, fmt.Errorf("exchange: want from %s: %w", p, err)
		}
		if typ == typeDontHave {
			release()
			dontHave = append(dontHave, want)
			continue
		}
		err = fn(want, data)
		release()
		if err != nil {
			st.Reset()
			return dontHave, err
		}
	}
	st.Close()
	return dontHave, nil
}

// Have asks p which of cids it holds.
func (c *Client) Have(ctx context.Context, p peer.ID, cids []cid.Cid) ([]bool, error) {
	if len(cids) == 0 || len(cids) > MaxHave {
		return nil, fmt.Errorf("exchange: have of %d CIDs (1 to %d)", len(cids), MaxHave)
	}
	st, stop, err := c.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := c.request(st, typeHave, encodeCIDs(cids)); err != nil {
		st.Reset()
		return nil, fmt.Errorf("exchange: have from %s: %w", p, err)
	}
	typ, body, err := c.readReply(st, bufio.NewReaderSize(st, 4096))
	if err == nil && (typ != typeHaves || len(body) != (len(cids)+7)/8) {
		err = protoErr("bad reply to a have (type %#x, %d bytes)", typ, len(body))
	}
	if err != nil {
		st.Reset()
		return nil, c.wrap(ctx, p, err)
	}
	st.Close()
	out := make([]bool, len(cids))
	for i := range cids {
		out[i] = body[i/8]&(1<<(i%8)) != 0
	}
	return out, nil
}

// Prove asks p to prove it holds cids, with a nonce the caller chose at
// random for this request, and returns p's proofs in request order: each
// either Proof(nonce, block) or all zeros for a block p says it does not
// hold. The caller checks them against its own copies.
func (c *Client) Prove(ctx context.Context, p peer.ID, nonce []byte, cids []cid.Cid) ([][ProofSize]byte, error) {
	if len(cids) == 0 || len(cids) > MaxProve {
		return nil, fmt.Errorf("exchange: prove of %d CIDs (1 to %d)", len(cids), MaxProve)
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("exchange: prove with a nonce of %d bytes (want %d)", len(nonce), NonceSize)
	}
	st, stop, err := c.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := c.request(st, typeProve, nonce, encodeCIDs(cids)); err != nil {
		st.Reset()
		return nil, fmt.Errorf("exchange: prove from %s: %w", p, err)
	}
	typ, body, err := c.readReply(st, bufio.NewReaderSize(st, 4096))
	if err == nil && (typ != typeProofs || len(body) != len(cids)*ProofSize) {
		err = protoErr("bad reply to a prove (type %#x, %d bytes)", typ, len(body))
	}
	if err != nil {
		st.Reset()
		return nil, c.wrap(ctx, p, err)
	}
	st.Close()
	out := make([][ProofSize]byte, len(cids))
	for i := range out {
		copy(out[i][:], body[i*ProofSize:])
	}
	return out, nil
}

// Held reports whether a proof claims the block (it is not all zeros).
func Held(proof [ProofSize]byte) bool { return proof != noProof }

// Push offers p a block. It returns nil once p has it durably, or a
// *RefusedError saying why p would not take it.
func (c *Client) Push(ctx context.Context, p peer.ID, id cid.Cid, data []byte) error {
	st, stop, err := c.open(ctx, p)
	if err != nil {
		return err
	}
	defer stop()
	if err := c.request(st, typePush, appendCID(nil, id), data); err != nil {
		st.Reset()
		return fmt.Errorf("exchange: push to %s: %w", p, err)
	}
	typ, body, err := c.readReply(st, bufio.NewReaderSize(st, 4096))
	if err != nil {
		st.Reset()
		return c.wrap(ctx, p, err)
	}
	st.Close()
	err = pushReply(typ, body)
	if errors.Is(err, ErrProtocol) {
		return fmt.Errorf("exchange: push to %s: %w", p, err)
	}
	return err
}

// wrap reports a failed read as the context's end when that is the cause.
func (c *Client) wrap(ctx context.Context, p peer.ID, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ErrProtocol) {
		return fmt.Errorf("exchange: %s: %w", p, ctxErr)
	}
	return fmt.Errorf("exchange: %s: %w", p, err)
}
