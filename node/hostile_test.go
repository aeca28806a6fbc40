package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node/exchange"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func rawHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// waitCutOff polls until n has no connection to p and refuses new ones.
func waitCutOff(t *testing.T, n *Node, p peer.ID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.Host().Network().Connectedness(p) == network.Connected || !n.gater.isBanned(p) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still connected or not banned", p)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func TestHostileProviderIsCutOffAndNoBadBlockIsStored(t *testing.T) {
	good := startNode(t)
	data := randomData(t, 3, 3<<20)
	root := addData(t, good, data)
	victim := startNode(t)

	// The hostile provider answers every want with garbage in place of
	// the first block asked for.
	hostile := rawHost(t)
	hostile.SetStreamHandler(exchange.ProtocolID, func(st network.Stream) {
		defer st.Close()
		var lenBuf [binary.MaxVarintLen64]byte
		r := bufio.NewReader(st)
		n, _ := binary.ReadUvarint(r)
		body := make([]byte, n)
		io.ReadFull(r, body)
		k, m := binary.Uvarint(body[1:])
		asked := body[1+m : 1+m+int(k)]
		frame := append([]byte{0x11}, binary.AppendUvarint(nil, uint64(len(asked)))...)
		frame = append(frame, asked...)
		frame = append(frame, []byte("these are not the bytes you are looking for")...)
		st.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(frame)))])
		st.Write(frame)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ai := range []peer.AddrInfo{{ID: hostile.ID(), Addrs: hostile.Addrs()}, good.AddrInfo()} {
		if err := victim.Connect(ctx, ai); err != nil {
			t.Fatal(err)
		}
	}
	// The hostile provider is the only one the fetch starts with, so it is
	// asked first; the good one is found through the DHT once it is cut off.
	if err := victim.Fetch(ctx, root, FetchOptions{Providers: []peer.ID{hostile.ID()}}); err != nil {
		t.Fatal(err)
	}
	waitCutOff(t, victim, hostile.ID())
	if got := readAll(t, victim, root); !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	if res, err := victim.Store().Verify(context.Background(), nil); err != nil || len(res.Failed) != 0 {
		t.Fatalf("a bad block reached the store: %+v, %v", res, err)
	}
	if err := victim.Connect(ctx, peer.AddrInfo{ID: hostile.ID(), Addrs: hostile.Addrs()}); err == nil {
		t.Fatal("the banned peer was dialled again")
	}
}

func TestHostileRequesterIsCutOffAndOthersAreStillServed(t *testing.T) {
	server := startNode(t)
	data := randomData(t, 4, 1<<20)
	root := addData(t, server, data)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for name, frame := range map[string][]byte{
		"oversized frame": binary.AppendUvarint(nil, 1<<32),
		"garbage":         {0x06, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		hostile := rawHost(t)
		if err := hostile.Connect(ctx, server.AddrInfo()); err != nil {
			t.Fatal(err)
		}
		st, err := hostile.NewStream(ctx, server.ID(), exchange.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(frame)
		st.CloseWrite()
		waitCutOff(t, server, hostile.ID())
		t.Logf("%s: cut off", name)
	}

	honest := startNode(t, withBootstrap(server.AddrInfo()))
	if err := honest.Fetch(ctx, root, FetchOptions{Providers: []peer.ID{server.ID()}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, honest, root); !bytes.Equal(got, data) {
		t.Fatal("honest peer read different bytes")
	}
}

// A ban that has run out is forgotten when the next ban comes, so a
// stream of peers, each banned once, does not grow the map for good.
func TestExpiredBansArePrunedWhenTheNextBanComes(t *testing.T) {
	g := newBanGater()
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	ids := make([]peer.ID, 100)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprint("peer", i))
		g.ban(ids[i], time.Minute)
	}
	now = now.Add(2 * time.Minute)
	fresh := peer.ID("fresh")
	g.ban(fresh, time.Minute)
	g.mu.Lock()
	n := len(g.banned)
	g.mu.Unlock()
	if n != 1 || !g.isBanned(fresh) {
		t.Fatalf("%d bans kept after 100 ran out and one came, want only the new one", n)
	}
}
