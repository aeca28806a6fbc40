package exchange

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func nonce(t *testing.T) []byte {
	t.Helper()
	n := make([]byte, NonceSize)
	if _, err := rand.Read(n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProveAnswersOnlyForTheBlocksHeldAndEachNonceGivesOtherProofs(t *testing.T) {
	server, client := newHost(t), newHost(t)
	held := &mapBlocks{m: map[cid.Cid][]byte{}}
	c1, d1 := block(t, "one")
	c2, d2 := block(t, "two")
	missing, _ := block(t, "missing")
	held.m[c1], held.m[c2] = d1, d2
	s, err := NewServer(ServerConfig{Host: server, Blocks: held})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	connect(t, client, server)
	cl := NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	n1, n2 := nonce(t), nonce(t)
	p1, err := cl.Prove(ctx, server.ID(), n1, []cid.Cid{c1, missing, c2})
	if err != nil {
		t.Fatal(err)
	}
	if p1[0] != Proof(n1, d1) || p1[2] != Proof(n1, d2) {
		t.Fatal("proofs of held blocks do not match the blocks")
	}
	if Held(p1[1]) || !Held(p1[0]) {
		t.Fatalf("held flags wrong: %v %v", Held(p1[0]), Held(p1[1]))
	}
	p2, err := cl.Prove(ctx, server.ID(), n2, []cid.Cid{c1})
	if err != nil {
		t.Fatal(err)
	}
	if p2[0] == p1[0] || p2[0] != Proof(n2, d1) {
		t.Fatal("a fresh nonce must give a fresh proof")
	}
	for _, bad := range []struct {
		name  string
		nonce []byte
		cids  []cid.Cid
	}{
		{"short nonce", n1[:8], []cid.Cid{c1}},
		{"no CIDs", n1, nil},
		{"too many CIDs", n1, make([]cid.Cid, MaxProve+1)},
	} {
		if _, err := cl.Prove(ctx, server.ID(), bad.nonce, bad.cids); err == nil {
			t.Errorf("%s: Prove accepted it", bad.name)
		}
	}
}

func TestAProveWithoutANonceIsAProtocolViolation(t *testing.T) {
	server, client := newHost(t), newHost(t)
	reported := make(chan error, 1)
	s, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{}},
		OnMisbehave: func(_ peer.ID, err error) { reported <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	connect(t, client, server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := client.NewStream(ctx, server.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(st)
	if err := writeFrame(w, typeProve, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	st.CloseWrite()
	select {
	case err := <-reported:
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("reported %v", err)
		}
	case <-ctx.Done():
		t.Fatal("a nonce-less prove was not reported")
	}
}

// stingyScope grants memory up to a limit, as a resource manager would.
type stingyScope struct {
	network.ResourceScope
	limit, used int
}

func (s *stingyScope) ReserveMemory(n int, _ uint8) error {
	if s.used+n > s.limit {
		return network.ErrResourceLimitExceeded
	}
	s.used += n
	return nil
}

func (s *stingyScope) ReleaseMemory(n int) { s.used -= n }

func TestAFrameIsReadOnlyAsFarAsTheResourceManagerGrantsMemory(t *testing.T) {
	body := bytes.Repeat([]byte{7}, 3*reserveStep+10)
	t.Run("within the limit", func(t *testing.T) {
		sc := &stingyScope{limit: len(body)}
		got, release, err := readBodyReserved(sc, bufio.NewReader(bytes.NewReader(body)), len(body), nil)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if sc.used != len(body) {
			t.Fatalf("reserved %d while the body is held, want %d", sc.used, len(body))
		}
		release()
		if sc.used != 0 {
			t.Fatalf("%d bytes still reserved after release", sc.used)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		sc := &stingyScope{limit: 2 * reserveStep}
		r := &countingReader{r: bytes.NewReader(body)}
		_, release, err := readBodyReserved(sc, bufio.NewReaderSize(r, 16), len(body), nil)
		release()
		if !errors.Is(err, network.ErrResourceLimitExceeded) {
			t.Fatalf("err = %v, want the resource limit", err)
		}
		if sc.used != 0 {
			t.Fatalf("%d bytes still reserved after a refused frame", sc.used)
		}
		if r.n > 2*reserveStep+16 {
			t.Fatalf("read %d bytes of a frame refused after %d", r.n, 2*reserveStep)
		}
	})
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
