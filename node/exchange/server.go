package exchange

import (
	"bufio"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BlockSource is what the server reads blocks from.
type BlockSource interface {
	// GetBuffer reads c's block, into buf when it fits; it returns the
	// bytes and the buffer to pass in next time (chunk/store's contract).
	GetBuffer(ctx context.Context, c cid.Cid, buf []byte) (data, backing []byte, err error)
	Has(c cid.Cid) (bool, error)
}

// durableSource is a BlockSource that tells blocks committed (synced)
// from blocks only written. HAVE and PROVE then claim only the former: a
// peer counts a claimed copy toward R or W, or drops its own for it, and
// a copy a crash before the commit would lose must not count. A block
// only written is still served to WANT.
type durableSource interface {
	Durable(c cid.Cid) (bool, error)
}

// claims reports whether this node may tell a peer it holds c.
func (s *Server) claims(c cid.Cid) bool {
	var ok bool
	var err error
	if d, isDurable := s.cfg.Blocks.(durableSource); isDurable {
		ok, err = d.Durable(c)
	} else {
		ok, err = s.cfg.Blocks.Has(c)
	}
	return err == nil && ok
}

// willNeeder is a BlockSource that can start reading blocks ahead.
type willNeeder interface {
	WillNeed(cids []cid.Cid)
}

// PushHandler takes a pushed block. It returns nil once the block is
// durable, a *RefusedError to refuse it, or another error (reported to the
// pusher as busy). data is valid only until it returns.
type PushHandler func(ctx context.Context, from peer.ID, c cid.Cid, data []byte) error

// ServerConfig configures a Server.
type ServerConfig struct {
	Host   host.Host
	Blocks BlockSource
	// OnPush, if nil, refuses every push as unwanted.
	OnPush PushHandler
	// OnPushBatch, if set, takes pushes in its place: one PushBatch for
	// the pushes of one stream, committed once for all of them (see
	// BatchProtocolID).
	OnPushBatch func(from peer.ID) PushBatch
	// Logf, if set, receives the errors a push met that are not told to
	// the pusher.
	Logf func(format string, args ...any)
	// OnMisbehave is told of a peer that broke the protocol, so the node
	// can cut it off.
	OnMisbehave func(p peer.ID, err error)
	// StreamTimeout bounds one request and its replies (default 1m).
	StreamTimeout time.Duration
	// IdleTimeout bounds the wait for a request to arrive (default 10s).
	IdleTimeout time.Duration
	// MaxWantsPerPeer bounds the wants and pushes served at once to one
	// peer (default 32, twice a cairn fetcher's window). Each holds a
	// block buffer while it runs; the ones past the bound wait their turn
	// within StreamTimeout. The bound is per peer so that a peer that
	// asks and never reads holds up only itself.
	MaxWantsPerPeer int
}

// Server answers the protocol on a host.
type Server struct {
	cfg    ServerConfig
	ctx    context.Context
	cancel context.CancelFunc

	slotsMu sync.Mutex
	slots   map[peer.ID]*peerSlots

	mu     sync.Mutex // orders wg.Add against Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// NewServer registers the protocol handler on cfg.Host.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Host == nil || cfg.Blocks == nil {
		return nil, errors.New("exchange: server needs a host and a block source")
	}
	if cfg.StreamTimeout <= 0 {
		cfg.StreamTimeout = time.Minute
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.MaxWantsPerPeer <= 0 {
		cfg.MaxWantsPerPeer = 32
	}
	s := &Server{cfg: cfg, slots: map[peer.ID]*peerSlots{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	cfg.Host.SetStreamHandler(BatchProtocolID, s.handle)
	return s, nil
}

// Close removes the handler and waits for requests in progress to stop.
func (s *Server) Close() error {
	s.cfg.Host.RemoveStreamHandler(ProtocolID)
	s.cfg.Host.RemoveStreamHandler(BatchProtocolID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.StreamTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()

	from := st.Conn().RemotePeer()
	st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	r := bufio.NewReaderSize(st, 4096)
	w := bufio.NewWriterSize(st, 64<<10)
	typ, n, err := readHeader(r, s.requestLimit)
	if err == nil {
		// Every request reads blocks or the index, and wants and pushes
		// hold a block buffer: take one of the peer's slots before reading
		// a block-sized push.
		if err = s.acquire(ctx, from); err == nil {
			defer s.release(from)
			st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)) // the wait is not the peer's
		}
	}
	var body, buf []byte // requests other than pushes are a few CIDs long
	if err == nil {
		if typ == typePush {
			bp := framePool.Get().(*[]byte)
			defer framePool.Put(bp)
			buf = *bp
		}
		var release func()
		body, release, err = readBodyReserved(st.Scope(), r, n, buf)
		defer release()
	}
	if err != nil {
		s.fail(st, from, err)
		return
	}
	st.SetReadDeadline(time.Time{})
	switch typ {
	case typeWant:
		err = s.serveWant(ctx, w, body)
	case typeHave:
		err = s.serveHave(w, body)
	case typePush:
		err = s.servePushes(ctx, st, r, w, from, body, buf)
	case typeProve:
		err = s.serveProve(ctx, w, body)
	default:
		err = protoErr("unknown request type %#x", typ)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		s.fail(st, from, err)
		return
	}
	st.Close()
}

// peerSlots is a peer's share of the server: one token per request being
// served.
type peerSlots struct {
	tokens chan struct{}
	users  int // holders and waiters; the entry goes when none are left
}

// acquire waits for one of from's slots.
func (s *Server) acquire(ctx context.Context, from peer.ID) error {
	s.slotsMu.Lock()
	ps := s.slots[from]
	if ps == nil {
		ps = &peerSlots{tokens: make(chan struct{}, s.cfg.MaxWantsPerPeer)}
		s.slots[from] = ps
	}
	ps.users++
	s.slotsMu.Unlock()
	select {
	case ps.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		s.leave(from, ps)
		return ctx.Err()
	}
}

func (s *Server) release(from peer.ID) {
	s.slotsMu.Lock()
	ps := s.slots[from]
	s.slotsMu.Unlock()
	<-ps.tokens
	s.leave(from, ps)
}

func (s *Server) leave(from peer.ID, ps *peerSlots) {
	s.slotsMu.Lock()
	defer s.slotsMu.Unlock()
	if ps.users--; ps.users == 0 {
		delete(s.slots, from)
	}
}

// requestLimit bounds request frames by type: wants and haves are lists of
// CIDs, and only a node that takes pushes accepts a block-sized request.
func (s *Server) requestLimit(typ byte) int {
	switch typ {
	case typeWant:
		return 1 + MaxWant*(maxCID+2)
	case typeHave:
		return 1 + MaxHave*(maxCID+2)
	case typeProve:
		return 1 + NonceSize + MaxProve*(maxCID+2)
	case typePush:
		if s.cfg.OnPush != nil || s.cfg.OnPushBatch != nil {
			return MaxFrame
		}
	}
	return 1 + maxCID + 2
}

func (s *Server) fail(st network.Stream, from peer.ID, err error) {
	st.Reset()
	if errors.Is(err, ErrProtocol) && s.cfg.OnMisbehave != nil {
		s.cfg.OnMisbehave(from, err)
	}
}

func (s *Server) serveWant(ctx context.Context, w *bufio.Writer, body []byte) error {
	cids, err := decodeCIDs(body, MaxWant)
	if err != nil {
		return err
	}
	if wn, ok := s.cfg.Blocks.(willNeeder); ok {
		wn.WillNeed(cids) // blocks on disk start coming in while the first is sent
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	for _, c := range cids {
		cb := appendCID(nil, c)
		// Any failure to read (missing, or corrupt on disk) is a
		// don't-have: the asker moves on to another provider. The
		// buffer is reused once writeFrame returns: the stream has
		// taken the bytes by then.
		data, backing, err := s.cfg.Blocks.GetBuffer(ctx, c, *bp)
		if cap(backing) > cap(*bp) {
			*bp = backing
		}
		if err != nil {
			if err := writeFrame(w, typeDontHave, cb); err != nil {
				return err
			}
			continue
		}
		if err := writeFrame(w, typeBlock, cb, data); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) serveHave(w *bufio.Writer, body []byte) error {
	cids, err := decodeCIDs(body, MaxHave)
	if err != nil {
		return err
	}
	bits := make([]byte, (len(cids)+7)/8)
	for i, c := range cids {
		if s.claims(c) {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return writeFrame(w, typeHaves, bits)
}

// serveProve answers a PROVE: the proof of each block asked for, or none
// for a block not held or not readable.
func (s *Server) serveProve(ctx context.Context, w *bufio.Writer, body []byte) error {
	if len(body) < NonceSize {
		return protoErr("prove without a nonce")
	}
	nonce := body[:NonceSize]
	cids, err := decodeCIDs(body[NonceSize:], MaxProve)
	if err != nil {
		return err
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	out := make([]byte, 0, len(cids)*ProofSize)
	for _, c := range cids {
		if !s.claims(c) {
			out = append(out, noProof[:]...)
			continue
		}
		data, backing, err := s.cfg.Blocks.GetBuffer(ctx, c, *bp)
		if cap(backing) > cap(*bp) {
			*bp = backing
		}
		if err != nil {
			out = append(out, noProof[:]...)
			continue
		}
		p := Proof(nonce, data)
		out = append(out, p[:]...)
	}
	return writeFrame(w, typeProofs, out)
}
