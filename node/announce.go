package node

import mh "github.com/multiformats/go-multihash"

// announceBatch bounds the keys handed to the DHT's provider at once.
const announceBatch = 4096

// announce hands keys to the DHT's provider in the background: an
// announcement is no part of a write's durability (keys not handed over
// by a clean stop are handed over at the next start), and the provider
// writes its keystore per call, so many small adds share one call.
func (n *Node) announce(keys []mh.Multihash) {
	select {
	case n.announceCh <- keys:
	case <-n.ctx.Done():
		n.announceLost.Store(true)
	}
}

// announceLoop gathers what the adds queued since its last call and
// provides it in one, until the node closes.
func (n *Node) announceLoop() {
	for {
		var keys []mh.Multihash
		select {
		case <-n.ctx.Done():
			n.drainAnnounces()
			return
		case keys = <-n.announceCh:
		}
	gather:
		for len(keys) < announceBatch {
			select {
			case more := <-n.announceCh:
				keys = append(keys, more...)
			default:
				break gather
			}
		}
		if err := n.dht.Provide(keys...); err != nil && n.ctx.Err() == nil {
			n.logf("node: announce %d blocks: %v", len(keys), err)
		}
	}
}

// drainAnnounces hands over what was queued when the node began to close:
// the provider is still open, and keys left in the queue would wait for
// the next start's walk.
func (n *Node) drainAnnounces() {
	for {
		select {
		case keys := <-n.announceCh:
			if err := n.dht.Provide(keys...); err != nil {
				n.announceLost.Store(true)
			}
		default:
			return
		}
	}
}
