package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

func TestLivenessReportsASilentPeerOnceAndItsReturn(t *testing.T) {
	a, b := peer.ID("a"), peer.ID("b")
	l := newLiveness(3 * time.Second)
	t0 := time.Unix(100, 0)
	if got := l.Tick(t0, []peer.ID{a, b}); len(got) != 0 {
		t.Fatalf("peers just connected reported silent: %v", got)
	}
	l.Answered(a, t0.Add(2*time.Second))
	if got := l.Tick(t0.Add(3*time.Second), []peer.ID{a, b}); len(got) != 0 {
		t.Fatalf("silent for exactly the limit: %v", got)
	}
	got := l.Tick(t0.Add(4*time.Second), []peer.ID{a, b})
	if len(got) != 1 || !got[b].Equal(t0) {
		t.Fatalf("after 4s: %v, want b silent since its connection at %v", got, t0)
	}
	if again := l.Tick(t0.Add(5*time.Second), []peer.ID{a, b}); len(again) != 0 {
		t.Fatalf("b reported silent twice: %v", again)
	}
	if !l.Answered(b, t0.Add(6*time.Second)) {
		t.Fatal("b's answer after its silence is not reported as its return")
	}
	if l.Answered(a, t0.Add(6*time.Second)) {
		t.Fatal("a, never silent, reported as back")
	}
	// A peer that disconnects is forgotten: when it connects again its
	// clock starts anew.
	l.Tick(t0.Add(7*time.Second), []peer.ID{a})
	if got := l.Tick(t0.Add(20*time.Second), []peer.ID{a, b}); got[b] != (time.Time{}) {
		t.Fatalf("b reconnected and was at once reported silent since %v", got[b])
	}
}

func TestProbeEveryStaysWithinItsBounds(t *testing.T) {
	for grace, want := range map[time.Duration]time.Duration{
		time.Second: time.Second, 16 * time.Second: 2 * time.Second, 2 * time.Minute: 15 * time.Second, time.Hour: 15 * time.Second,
	} {
		if got := ProbeEvery(grace); got != want {
			t.Errorf("ProbeEvery(%v) = %v, want %v", grace, got, want)
		}
	}
}

// A peer that stays connected but answers no ping (as a frozen process
// does) is counted down, and its chunks are copied to others once the
// grace delay after its last answer is over; when it answers again it is
// back.
func TestAConnectedPeerThatAnswersNoPingIsRepairedAround(t *testing.T) {
	rc := fastRepair
	rc.GraceDelay = 2 * time.Second
	nodes := cluster(t, 5, rc)
	data := randomData(t, 77, 700_000)
	res, err := nodes[0].Add(context.Background(), bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := file{root: res.Root, data: data, keys: dagKeys(t, nodes[0], res.Root), adder: nodes[0]}
	waitCopies(t, nodes, []file{f}, 3, 3+2, time.Minute)

	live := nodes[0].rep.placement().Live()
	var mute *Node
	for _, h := range holders(nodes, f.keys[0]) {
		if h != nodes[0] {
			mute = h
			break
		}
	}
	mute.host.RemoveStreamHandler(ping.ID)
	var others []*Node
	for _, n := range nodes {
		if n != mute {
			others = append(others, n)
		}
	}
	pollView := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for nodes[0].rep.placement().Live() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d live in the adder's view, want %d", what, nodes[0].rep.placement().Live(), want)
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
	}
	pollView(live-1, "a connected peer answering no ping")
	if nodes[0].host.Network().Connectedness(mute.host.ID()) != network.Connected {
		t.Fatal("the muted peer was disconnected: this test is about a connected one")
	}
	// Its copies no longer count: the others make three of their own.
	waitCopies(t, others, []file{f}, 3, 3+2, time.Minute)

	ping.NewPingService(mute.host) // answers pings again
	pollView(live, "the peer answers pings again")
}
