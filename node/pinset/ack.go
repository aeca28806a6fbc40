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
// say whether it then holds a root: how an add learns that W nodes hold
// its pin, as it learns that they hold its blocks.
const AckProtocol = "/cairn/pins/ack/1.0.0"

// AckTimeout bounds how long a peer works on one ack request.
const AckTimeout = 15 * time.Second

const (
	ackHeld    byte = 1
	ackMissing byte = 2 // not merged within the time
	ackRefused byte = 3 // the asker may not write, or sent nonsense
)

// ErrNotHeld: the peer did not hold the entry when it answered.
var ErrNotHeld = errors.New("pinset: peer does not hold the entry")

// Confirm asks p to merge this node's heads and reports whether p then
// holds root's entry: nil once it does.
func (s *Set) Confirm(ctx context.Context, p peer.ID, root cid.Cid) error {
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
	for _, part := range [][]byte{root.Bytes(), ann} {
		var n [binary.MaxVarintLen64]byte
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
	st.SetDeadline(time.Now().Add(AckTimeout + 2*time.Second))
	r := bufio.NewReaderSize(st, 4<<10)
	rootB, err := readPart(r, 128)
	var ann []byte
	if err == nil {
		ann, err = readPart(r, maxAnnounce)
	}
	if err != nil {
		st.Reset()
		return
	}
	reply := func(b byte) { st.Write([]byte{b}) }
	root, err := cid.Cast(rootB)
	if err == nil {
		_, err = decodeHeads(ann)
	}
	if err != nil || !s.mayWrite(from) {
		s.cfg.Logf("pinset: refusing an ack request from %s: %v", from, err)
		reply(ackRefused)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), AckTimeout)
	defer cancel()
	s.bc.inject(ctx, ann)
	for {
		changed := s.changes()
		ok, err := s.Has(ctx, root)
		if err != nil {
			reply(ackMissing)
			return
		}
		if ok {
			reply(ackHeld)
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			reply(ackMissing)
			return
		}
	}
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
