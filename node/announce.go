package node

import mh "github.com/multiformats/go-multihash"

// announceBatch bounds the keys handed to the DHT's provider at once.
const announceBatch = 4096

// announce hands keys to the DHT's provider in the background: an
// announcement is no part of a write's durability (the provider's
// keystore is seeded from the store at every start), and the provider
// writes its keystore per call, so many small adds share one call.
func (n *Node) announce(keys []mh.Multihash) {
	select {
	case n.announceCh <- keys:
	case <-n.ctx.Done():
	}
}

// announceLoop gathers what the adds queued since its last call and
// provides it in one, until the node closes.
func (n *Node) announceLoop() {
	for {
		var keys []mh.Multihash
		select {
		case <-n.ctx.Done():
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
