package pinset

import (
	"context"
	"sync"

	crdt "github.com/ipfs/go-ds-crdt"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// broadcaster is go-ds-crdt's link to the other replicas: it publishes
// heads on the topic, and hands the CRDT what peers announce there and
// what an ack request carries (so a writer waiting for acks need not wait
// for gossip).
type broadcaster struct {
	ctx   context.Context
	self  peer.ID
	topic *pubsub.Topic
	in    chan []byte
}

var _ crdt.Broadcaster = (*broadcaster)(nil)

func newBroadcaster(ctx context.Context, ps *pubsub.PubSub, self peer.ID, wg *sync.WaitGroup) (*broadcaster, error) {
	t, err := ps.Join(Topic)
	if err != nil {
		return nil, err
	}
	sub, err := t.Subscribe()
	if err != nil {
		t.Close()
		return nil, err
	}
	b := &broadcaster{ctx: ctx, self: self, topic: t, in: make(chan []byte, 64)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer t.Close()
		defer sub.Cancel()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == self {
				continue
			}
			select {
			case b.in <- msg.Data:
			case <-ctx.Done():
				return
			}
		}
	}()
	return b, nil
}

func (b *broadcaster) Broadcast(ctx context.Context, data []byte) error {
	return b.topic.Publish(ctx, data)
}

func (b *broadcaster) Next(ctx context.Context) ([]byte, error) {
	select {
	case d := <-b.in:
		return d, nil
	case <-b.ctx.Done():
		return nil, crdt.ErrNoMoreBroadcast
	case <-ctx.Done():
		return nil, crdt.ErrNoMoreBroadcast
	}
}

// inject hands the CRDT an announcement that came another way.
func (b *broadcaster) inject(ctx context.Context, data []byte) {
	select {
	case b.in <- data:
	case <-ctx.Done():
	case <-b.ctx.Done():
	}
}

func (b *broadcaster) peers() []peer.ID { return b.topic.ListPeers() }
