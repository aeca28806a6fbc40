package node

import mh "github.com/multiformats/go-multihash"

// announceBatch bounds the keys handed to the DHT's provider at once.
const announceBatch = 4096

// announce hands keys to the DHT's provider in the background: an
// announcement is no part of a write's durability (keys not handed over
// by a clean stop are handed over at the next start), and the provider
// writes its keystore per call, so many small adds share one call.
func (n *Node) announce(keys []mh.Multihash) {
	// The read lock fences the queue off at Close: once closeAnnounces
	// holds the write lock, no key can enter the queue unseen.
	n.announceMu.RLock()
	defer n.announceMu.RUnlock()
	if n.announceShut {
		n.announceLost.Store(true)
		return
	}
	select {
	case n.announceCh <- keys:
	case <-n.ctx.Done():
		n.announceLost.Store(true)
	}
}

// closeAnnounces shuts the queue and hands over what is left in it. Call
// it after the node's context is cancelled (which frees any announce
// blocked on a full queue) and before the DHT closes.
func (n *Node) closeAnnounces() {
	n.announceMu.Lock()
	n.announceShut = true
	n.announceMu.Unlock()
	n.drainAnnounces()
}

// provideNow announces keys at once, as a fetch does with what it
// stored. One that fails once the node is closing would leave the store
// marked as fully announced: the mark is taken back.
func (n *Node) provideNow(keys []mh.Multihash) error {
	err := n.dht.Provide(keys...)
	if err != nil {
		n.announceLost.Store(true)
		if n.store.Marked() {
			if uerr := n.store.Unmark(); uerr != nil {
				n.logf("node: %d blocks not announced, and the store's mark stays: %v", len(keys), uerr)
			}
		}
	}
	return err
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
