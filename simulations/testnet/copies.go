package testnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Copies are counted from the truth, not from any node's view: every node
// not under a fault is asked whether it holds each block itself (a HEAD
// with only-if-cached). A node's own count (the replicas API) leaves out
// peers it has passed over or distrusts, so two nodes may disagree; what
// the promise is about is where the bytes are.

// counter counts the copies of acknowledged files' blocks.
type counter struct {
	c      *Cluster
	mu     sync.Mutex
	blocks map[string][]string // root -> its blocks, learned once
}

func newCounter(c *Cluster) *counter { return &counter{c: c, blocks: map[string][]string{}} }

// blocksOf is root's blocks, asked of the given nodes in turn.
func (k *counter) blocksOf(ctx context.Context, root string, nodes []int) ([]string, error) {
	k.mu.Lock()
	bs, ok := k.blocks[root]
	k.mu.Unlock()
	if ok {
		return bs, nil
	}
	var err error
	for _, i := range nodes {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		bs, err = k.c.Client.Blocks(qctx, i, root)
		cancel()
		if err == nil {
			k.mu.Lock()
			k.blocks[root] = bs
			k.mu.Unlock()
			return bs, nil
		}
	}
	return nil, fmt.Errorf("blocks of %s: %w", root, err)
}

// copies counts, for each block of root, the given nodes holding it, and
// returns the fewest and the most; most leaves out node adder (-1: none),
// whose copy the user pinned there: it is outside the replicas' count,
// kept whatever their number.
func (k *counter) copies(ctx context.Context, root string, nodes []int, adder int) (least, most int, err error) {
	// The adder holds the whole DAG: asked first, it fetches nothing to
	// list it (another node would fetch the inner blocks, and hold one
	// copy more than the replicas).
	ask := nodes
	if slices.Contains(nodes, adder) {
		ask = append([]int{adder}, nodes...)
	}
	bs, err := k.blocksOf(ctx, root, ask)
	if err != nil {
		return 0, 0, err
	}
	least = len(nodes) + 1
	for _, b := range bs {
		n, replicas := 0, 0
		for _, i := range nodes {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ok, err := k.c.Client.Holds(qctx, i, b)
			cancel()
			if err == nil && ok {
				n++
				if i != adder {
					replicas++
				}
			}
		}
		least, most = min(least, n), max(most, replicas)
	}
	if len(bs) == 0 {
		least = 0
	}
	return least, most, nil
}

// allAtR counts the acknowledged roots with a block on fewer than r of
// the given nodes; each (when given) is told of every such root.
func (k *counter) allAtR(ctx context.Context, acks []Ack, r int, nodes []int, each func(root string, least int, err error)) (checked, under int) {
	rs := roots(acks)
	adders := map[string]int{}
	for _, a := range acks {
		adders[a.CID] = a.Node
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for _, root := range rs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			least, _, err := k.copies(ctx, root, nodes, adders[root])
			mu.Lock()
			defer mu.Unlock()
			checked++
			if err != nil || least < r {
				under++
				if each != nil {
					each(root, least, err)
				}
			}
		}()
	}
	wg.Wait()
	return checked, under
}
