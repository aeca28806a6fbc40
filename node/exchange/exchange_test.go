package exchange

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

type mapBlocks struct {
	mu sync.Mutex
	m  map[cid.Cid][]byte
}

func (b *mapBlocks) GetBuffer(_ context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[c]
	if !ok {
		return nil, buf, errors.New("not found")
	}
	return d, buf, nil
}

func (b *mapBlocks) Has(c cid.Cid) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.m[c]
	return ok, nil
}

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t *testing.T, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func block(t *testing.T, s string) (cid.Cid, []byte) {
	t.Helper()
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c, []byte(s)
}

func TestWantHavePushBetweenTwoHosts(t *testing.T) {
	server, client := newHost(t), newHost(t)
	held := &mapBlocks{m: map[cid.Cid][]byte{}}
	c1, d1 := block(t, "one")
	c2, d2 := block(t, "two")
	missing, _ := block(t, "missing")
	held.m[c1], held.m[c2] = d1, d2
	pushed := &mapBlocks{m: map[cid.Cid][]byte{}}
	srv, err := NewServer(ServerConfig{Host: server, Blocks: held, OnPush: func(_ context.Context, _ peer.ID, c cid.Cid, data []byte) error {
		if string(data) == "too much" {
			return &RefusedError{Code: RefuseFull, Reason: "disk full"}
		}
		if err := chunk.Verify(c, data); err != nil {
			return &RefusedError{Code: RefuseInvalid, Reason: err.Error()}
		}
		pushed.mu.Lock()
		pushed.m[c] = data
		pushed.mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	connect(t, client, server)
	cl := NewClient(client)
	ctx := context.Background()

	var got []string
	dontHave, err := cl.Want(ctx, server.ID(), []cid.Cid{c1, missing, c2}, func(_ cid.Cid, d []byte) error {
		got = append(got, string(d))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[one two]" || len(dontHave) != 1 || !dontHave[0].Equals(missing) {
		t.Fatalf("want gave %v and don't-have %v", got, dontHave)
	}

	has, err := cl.Have(ctx, server.ID(), []cid.Cid{missing, c2, c1})
	if err != nil || fmt.Sprint(has) != "[false true true]" {
		t.Fatalf("have = %v, %v", has, err)
	}

	c3, d3 := block(t, "three")
	if err := cl.Push(ctx, server.ID(), c3, d3); err != nil {
		t.Fatal(err)
	}
	if ok, _ := pushed.Has(c3); !ok {
		t.Fatal("pushed block not stored")
	}
	cFull, dFull := block(t, "too much")
	var ref *RefusedError
	if err := cl.Push(ctx, server.ID(), cFull, dFull); !errors.As(err, &ref) || ref.Code != RefuseFull {
		t.Fatalf("push to a full node = %v, want a full refusal", err)
	}
	if err := cl.Push(ctx, server.ID(), c3, []byte("not three")); !errors.As(err, &ref) || ref.Code != RefuseInvalid {
		t.Fatalf("push of mismatched bytes = %v, want an invalid refusal", err)
	}
}

// hostileServer answers every want with whatever reply makes.
func hostileServer(h host.Host, reply func(w *bufio.Writer, asked []cid.Cid)) {
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
		r := bufio.NewReader(st)
		_, body, err := readFrame(r, anyFrame)
		if err != nil {
			st.Reset()
			return
		}
		asked, _ := decodeCIDs(body, MaxWant)
		w := bufio.NewWriter(st)
		reply(w, asked)
		w.Flush()
	})
}

func TestWantRefusesWhatAHostileProviderSends(t *testing.T) {
	good, goodData := block(t, "good")
	other, otherData := block(t, "other")
	cases := []struct {
		name  string
		reply func(w *bufio.Writer, asked []cid.Cid)
	}{
		{"bytes that do not match the CID", func(w *bufio.Writer, asked []cid.Cid) {
			writeFrame(w, typeBlock, appendCID(nil, asked[0]), []byte("evil"))
		}},
		{"a block that was not asked for", func(w *bufio.Writer, asked []cid.Cid) {
			writeFrame(w, typeBlock, appendCID(nil, other), otherData)
		}},
		{"an oversized frame", func(w *bufio.Writer, _ []cid.Cid) {
			var b [binary.MaxVarintLen64]byte
			w.Write(b[:binary.PutUvarint(b[:], 1<<40)])
		}},
		{"garbage", func(w *bufio.Writer, _ []cid.Cid) {
			w.Write([]byte{0x05, 0x11, 0xff, 0xff, 0xff, 0xff})
		}},
		{"an unknown reply type", func(w *bufio.Writer, asked []cid.Cid) {
			writeFrame(w, 0x7f, appendCID(nil, asked[0]))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, client := newHost(t), newHost(t)
			hostileServer(server, tc.reply)
			connect(t, client, server)
			called := false
			_, err := NewClient(client).Want(context.Background(), server.ID(), []cid.Cid{good}, func(cid.Cid, []byte) error {
				called = true
				return nil
			})
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("want = %v, want ErrProtocol", err)
			}
			if called {
				t.Fatal("a bad reply reached the caller")
			}
		})
	}
	_ = goodData
}

func TestServerReportsAHostileRequesterAndKeepsServingOthers(t *testing.T) {
	server, hostile, honest := newHost(t), newHost(t), newHost(t)
	held := &mapBlocks{m: map[cid.Cid][]byte{}}
	c, d := block(t, "served")
	held.m[c] = d
	reported := make(chan peer.ID, 4)
	srv, err := NewServer(ServerConfig{Host: server, Blocks: held, OnMisbehave: func(p peer.ID, _ error) { reported <- p }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	connect(t, hostile, server)
	connect(t, honest, server)

	for _, frame := range [][]byte{
		binary.AppendUvarint(nil, 1<<30),      // oversized length
		{0x03, 0x7f, 0x00, 0x00},              // unknown request type
		{0x04, typeWant, 0x05, 0x01, 0x02},    // truncated CID
		{0x02, typeWant, 0x00, 0x00, 0x00, 0}, // length says 2, then a zero-length CID
	} {
		st, err := hostile.NewStream(context.Background(), server.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(frame)
		st.CloseWrite()
		select {
		case p := <-reported:
			if p != hostile.ID() {
				t.Fatalf("reported %s, want the hostile peer", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %x was not reported", frame)
		}
		st.Reset()
	}
	var got []byte
	if _, err := NewClient(honest).Want(context.Background(), server.ID(), []cid.Cid{c}, func(_ cid.Cid, b []byte) error { got = append([]byte(nil), b...); return nil }); err != nil || string(got) != "served" {
		t.Fatalf("honest peer after the attack: %q, %v", got, err)
	}
}

func TestWantGivesUpOnAStalledProvider(t *testing.T) {
	server, client := newHost(t), newHost(t)
	release := make(chan struct{})
	defer close(release)
	server.SetStreamHandler(ProtocolID, func(st network.Stream) {
		<-release // never answers while the test runs
		st.Reset()
	})
	connect(t, client, server)
	cl := NewClient(client)
	cl.StallTimeout = 200 * time.Millisecond
	c, _ := block(t, "x")
	_, err := cl.Want(context.Background(), server.ID(), []cid.Cid{c}, func(cid.Cid, []byte) error { return nil })
	if err == nil {
		t.Fatal("want from a silent provider succeeded")
	}
	if errors.Is(err, ErrProtocol) {
		t.Fatalf("a stall was reported as a protocol violation (the peer would be banned): %v", err)
	}
}

func TestMalformedContentThatMatchesItsHashIsNotBlamedOnTheProvider(t *testing.T) {
	server, client := newHost(t), newHost(t)
	garbage := []byte{0x0a, 0x03, 0xff, 0xff}
	c, err := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, garbage)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{c: garbage}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	connect(t, client, server)
	_, err = NewClient(client).Want(context.Background(), server.ID(), []cid.Cid{c}, func(cid.Cid, []byte) error {
		t.Fatal("a malformed node reached the caller")
		return nil
	})
	if !errors.Is(err, ErrBadContent) || errors.Is(err, ErrProtocol) {
		t.Fatalf("want of a malformed but hash-true node = %v, want ErrBadContent and no protocol violation", err)
	}
}

// gatedBlocks holds every read until gate closes, counting the reads of
// each block in progress and the most at once.
type gatedBlocks struct {
	mapBlocks
	gate   chan struct{}
	active map[cid.Cid]int
	most   map[cid.Cid]int
}

func (b *gatedBlocks) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, []byte, error) {
	b.mu.Lock()
	b.active[c]++
	b.most[c] = max(b.most[c], b.active[c])
	b.mu.Unlock()
	<-b.gate
	b.mu.Lock()
	b.active[c]--
	b.mu.Unlock()
	return b.mapBlocks.GetBuffer(ctx, c, buf)
}

func (b *gatedBlocks) count(c cid.Cid) (active, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active[c], b.most[c]
}

func TestServerBoundsTheWantsItServesPerPeer(t *testing.T) {
	server, greedy, other := newHost(t), newHost(t), newHost(t)
	cg, dg := block(t, "for the greedy peer")
	co, do := block(t, "for the other peer")
	held := &gatedBlocks{mapBlocks: mapBlocks{m: map[cid.Cid][]byte{cg: dg, co: do}},
		gate: make(chan struct{}), active: map[cid.Cid]int{}, most: map[cid.Cid]int{}}
	srv, err := NewServer(ServerConfig{Host: server, Blocks: held, MaxWantsPerPeer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	released := false
	defer func() {
		if !released { // a failed test must not leave Close waiting on reads
			close(held.gate)
		}
	}()
	connect(t, greedy, server)
	connect(t, other, server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := func(h host.Host, c cid.Cid, done chan<- error) {
		_, err := NewClient(h).Want(ctx, server.ID(), []cid.Cid{c}, func(cid.Cid, []byte) error { return nil })
		done <- err
	}
	done := make(chan error, 3)
	go want(greedy, cg, done)
	go want(greedy, cg, done)
	go want(other, co, done)
	waitFor := func(c cid.Cid) {
		t.Helper()
		for {
			if active, _ := held.count(c); active >= 1 {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no read of %s began", c)
			case <-time.After(time.Millisecond): // poll interval
			}
		}
	}
	// The other peer is served while the greedy one fills its share.
	waitFor(cg)
	waitFor(co)
	// Without the bound the greedy peer's second want is read within
	// microseconds; give it ample time to show up.
	time.Sleep(300 * time.Millisecond)
	close(held.gate)
	released = true
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, most := held.count(cg); most != 1 {
		t.Fatalf("%d wants of one peer were served at once with MaxWantsPerPeer 1", most)
	}
	// The client's want ends when it has read the last frame, which the
	// server writes before it releases the slot: poll for the release.
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.slotsMu.Lock()
		n := len(srv.slots)
		srv.slotsMu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d peers' slots left behind after every want ended", n)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

func TestServerBoundsThePushesItTakesPerPeer(t *testing.T) {
	server, greedy, other := newHost(t), newHost(t), newHost(t)
	gate := make(chan struct{})
	var mu sync.Mutex
	active, most := map[peer.ID]int{}, map[peer.ID]int{}
	count := func(p peer.ID) (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return active[p], most[p]
	}
	srv, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{}}, MaxWantsPerPeer: 1,
		OnPush: func(_ context.Context, from peer.ID, _ cid.Cid, _ []byte) error {
			mu.Lock()
			active[from]++
			most[from] = max(most[from], active[from])
			mu.Unlock()
			<-gate
			mu.Lock()
			active[from]--
			mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(gate)
		}
	}()
	connect(t, greedy, server)
	connect(t, other, server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 3)
	push := func(h host.Host, s string) {
		c, d := block(t, s)
		done <- NewClient(h).Push(ctx, server.ID(), c, d)
	}
	go push(greedy, "first")
	go push(greedy, "second")
	go push(other, "third")
	for _, p := range []peer.ID{greedy.ID(), other.ID()} {
		for {
			if a, _ := count(p); a >= 1 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no push of %s reached the handler", p)
			case <-time.After(time.Millisecond): // poll interval
			}
		}
	}
	// Without the bound the greedy peer's second push is taken within
	// microseconds; give it ample time to show up.
	time.Sleep(300 * time.Millisecond)
	close(gate)
	released = true
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, m := count(greedy.ID()); m != 1 {
		t.Fatalf("%d pushes of one peer were taken at once with MaxWantsPerPeer 1", m)
	}
}

// A refusal's reason comes from the peer: it reaches the pusher (and its
// log) printable and short, whatever the peer sent.
func TestAPeersRefusalReasonIsSanitizedAndCapped(t *testing.T) {
	server, client := newHost(t), newHost(t)
	connect(t, client, server)
	evil := "\x1b[31mred\x1b[0m\r\nforged log line\x00" + strings.Repeat("x", 10_000)
	hostileServer(server, func(w *bufio.Writer, _ []cid.Cid) {
		writeFrame(w, typeRefused, append([]byte{byte(RefuseFull)}, evil...))
	})
	c, d := block(t, "refused")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ref *RefusedError
	if err := NewClient(client).Push(ctx, server.ID(), c, d); !errors.As(err, &ref) {
		t.Fatalf("push: %v, want a refusal", err)
	}
	if n := utf8.RuneCountInString(ref.Reason); n > maxReason {
		t.Errorf("reason of %d characters kept, want at most %d", n, maxReason)
	}
	for _, r := range ref.Reason {
		if !unicode.IsPrint(r) {
			t.Fatalf("reason %q keeps the unprintable %q", ref.Reason, r)
		}
	}
	if ref.Code != RefuseFull || !strings.HasPrefix(ref.Reason, "?[31mred") {
		t.Errorf("refusal %v %q, want the code and the printable text kept", ref.Code, ref.Reason)
	}
}

// A push the receiver could not store for a reason of its own is refused
// as busy with a fixed reason: its error text (paths, internals) stays
// with it.
func TestAnInternalPushErrorIsNotToldToThePusher(t *testing.T) {
	server, client := newHost(t), newHost(t)
	connect(t, client, server)
	var mu sync.Mutex
	var logged []string
	srv, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{}},
		OnPush: func(context.Context, peer.ID, cid.Cid, []byte) error {
			return errors.New("open /var/lib/cairn/blocks/00000007.seg: input/output error")
		},
		Logf: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, fmt.Sprintf(f, a...))
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, d := block(t, "internal")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ref *RefusedError
	if err := NewClient(client).Push(ctx, server.ID(), c, d); !errors.As(err, &ref) || ref.Code != RefuseBusy {
		t.Fatalf("push: %v, want a busy refusal", err)
	}
	if strings.Contains(ref.Reason, "/var/lib") || strings.Contains(ref.Reason, "input/output") {
		t.Errorf("the pusher was told %q", ref.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "input/output error") {
		t.Errorf("the receiver logged %q, want its error", logged)
	}
}
