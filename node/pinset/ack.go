package pinset

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// AckProtocol asks a peer to merge the set up to the asker's heads and
// say whether it then holds some roots: how an add learns that W nodes
// hold its pin, as it learns that they hold its blocks. The request is
// the roots (a count, then each length-prefixed) and the announcement.
const AckProtocol = "/cairn/pins/ack/1.0.0"

// AckTimeout is how long a peer works on one ack request by default
// (Config.AckTimeout); a confirming node waits a little longer.
const AckTimeout = 15 * time.Second

const (
	ackHeld    byte = 1
	ackMissing byte = 2 // not merged within the time
	ackRefused byte = 3 // the asker may not write, or sent nonsense
)

// ErrNotHeld: the peer did not hold the entry when it answered.
var ErrNotHeld = errors.New("pinset: peer does not hold the entry")

// MaxAckRoots bounds the roots of one ack request (a CAR import of many
// roots asks in batches).
const MaxAckRoots = 4096

// Confirm asks p to merge this node's heads and reports whether p then
// holds the entries of all of roots (at most 4,096): nil once it does.
func (s *Set) Confirm(ctx context.Context, p peer.ID, roots ...cid.Cid) error {
	if len(roots) == 0 || len(roots) > MaxAckRoots {
		return fmt.Errorf("pinset: ack of %d roots (1 to %d)", len(roots), MaxAckRoots)
	}
	ann, err := encodeHeads(s.Heads(ctx))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, AckTimeout+5*time.Second)
	defer cancel()
	st, err := s.cfg.Host.NewStream(ctx, p, AckProtocol)
	if err != nil {
		return fmt.Errorf("pinset: ack from %s: %w", p, err)
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	w := bufio.NewWriter(st)
	var n [binary.MaxVarintLen64]byte
	w.Write(n[:binary.PutUvarint(n[:], uint64(len(roots)))])
	parts := make([][]byte, 0, len(roots)+1)
	for _, r := range roots {
		parts = append(parts, r.Bytes())
	}
	for _, part := range append(parts, ann) {
		w.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		w.Write(part)
	}
	if err := w.Flush(); err != nil {
		st.Reset()
		return fmt.Errorf("pinset: ack from %s: %w", p, err)
	}
	st.CloseWrite()
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil {
		st.Reset()
		return fmt.Errorf("pinset: ack from %s: %w", p, err)
	}
	switch b[0] {
	case ackHeld:
		return nil
	case ackRefused:
		return fmt.Errorf("pinset: %s refused the ack request (is this node a writer?)", p)
	default:
		return fmt.Errorf("pinset: %s: %w", p, ErrNotHeld)
	}
}

func (s *Set) handleAck(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(s.cfg.AckTimeout + 2*time.Second))
	r := bufio.NewReaderSize(st, 4<<10)
	reply := func(b byte) { st.Write([]byte{b}) }
	roots, ann, err := readAckRequest(r)
	if err == nil {
		_, err = decodeHeads(ann)
	}
	if err != nil || !s.mayWrite(from) {
		s.cfg.Logf("pinset: refusing an ack request from %s: %v", from, err)
		reply(ackRefused)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
	defer cancel()
	s.bc.inject(ctx, ann)
	// Roots found held are not asked again: each wait asks only for the
	// rest.
	for len(roots) > 0 {
		changed := s.changes()
		for len(roots) > 0 {
			ok, err := s.Has(ctx, roots[0])
			if err != nil {
				reply(ackMissing)
				return
			}
			if !ok {
				break
			}
			roots = roots[1:]
		}
		if len(roots) == 0 {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			reply(ackMissing)
			return
		}
	}
	reply(ackHeld)
}

// readAckRequest reads an ack request: its roots and the announcement.
func readAckRequest(r *bufio.Reader) ([]cid.Cid, []byte, error) {
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, nil, err
	}
	if count == 0 || count > MaxAckRoots {
		return nil, nil, fmt.Errorf("pinset: ack request of %d roots", count)
	}
	roots := make([]cid.Cid, count)
	for i := range roots {
		b, err := readPart(r, 128)
		if err != nil {
			return nil, nil, err
		}
		if roots[i], err = cid.Cast(b); err != nil {
			return nil, nil, fmt.Errorf("pinset: ack request: %w", err)
		}
	}
	ann, err := readPart(r, maxAnnounce)
	return roots, ann, err
}

// readPart reads one length-prefixed part of at most max bytes.
func readPart(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("pinset: part of %d bytes (at most %d)", n, max)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}
