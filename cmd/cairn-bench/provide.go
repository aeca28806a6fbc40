package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cairnstore/cairn/node"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// runProvide times the announcement of keys blocks (4,096 are the blocks
// of a 1 GiB file; a million, a node's whole index at its first start) by one node of a 20-node loopback network: from the Provide call
// until the sweeping provider reports every key provided (or failed).
func runProvide(dir string, keys int) error {
	const nodes = 20
	ctx := context.Background()
	var ns []*node.Node
	defer func() {
		for _, n := range ns {
			n.Close()
		}
	}()
	for i := 0; i < nodes; i++ {
		var boot []peer.AddrInfo
		if i > 0 {
			boot = []peer.AddrInfo{ns[0].AddrInfo()}
		}
		n, err := benchNode(ctx, filepath.Join(dir, fmt.Sprintf("net%d", i)), boot...)
		if err != nil {
			return err
		}
		ns = append(ns, n)
	}
	d := ns[nodes-1].DHT()
	// Let the provider see the network first, as a running node would.
	deadline := time.Now().Add(2 * time.Minute)
	for !d.Online() {
		if time.Now().After(deadline) {
			return fmt.Errorf("provider never came online")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, err := d.ProviderStats(ctx)
	if err != nil {
		return err
	}
	ks := make([]mh.Multihash, keys)
	for i := range ks {
		ks[i], _ = mh.Sum([]byte(fmt.Sprintf("block %d", i)), mh.SHA2_256, -1)
	}
	start := time.Now()
	if err := d.Provide(ks...); err != nil {
		return err
	}
	for {
		st, err := d.ProviderStats(ctx)
		if err != nil {
			return err
		}
		done := (st.Operations.Past.KeysProvided - before.Operations.Past.KeysProvided) +
			(st.Operations.Past.KeysFailed - before.Operations.Past.KeysFailed)
		if done >= int64(keys) {
			el := time.Since(start)
			fmt.Printf("\nprovide: %d blocks announced in a %d-node loopback network in %v (%.0f blocks/s; %d failed, %d provider records sent)\n",
				keys, nodes, el.Round(time.Millisecond), float64(keys)/el.Seconds(),
				st.Operations.Past.KeysFailed-before.Operations.Past.KeysFailed,
				st.Operations.Past.RecordsProvided-before.Operations.Past.RecordsProvided)
			return nil
		}
		if time.Since(start) > 30*time.Minute {
			return fmt.Errorf("provide: only %d of %d keys done after 30 minutes", done, keys)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
