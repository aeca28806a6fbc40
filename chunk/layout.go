package chunk

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// built is a finished subtree: its root CID, the file bytes below it, and
// its Tsize (the bytes of every block in it, as dag-pb links record).
type built struct {
	CID      cid.Cid
	fileSize uint64
	tsize    uint64
}

// layout builds kubo's balanced tree from leaves arriving in file order.
// It is the "balanced" importer's algorithm written as a pull over the
// leaf stream: fill a node of depth d with up to MaxLinks subtrees of depth
// d-1; when the input outlives a full tree, that tree becomes the first
// child of a deeper root.
type layout struct {
	ctx      context.Context
	leaves   *pipeline
	sink     BlockSink
	hash     HashFunc
	progress func(uint64)

	blocks int // inner nodes made
	done   uint64
}

var errEarlyEnd = errors.New("add: leaf stream ended early")

func (b *layout) build() (built, uint64, error) {
	first, ok := b.nextLeaf()
	if !ok {
		return built{}, 0, errEarlyEnd
	}
	root := first
	for depth := 1; b.more(); depth++ {
		var err error
		root, err = b.fill([]built{root}, depth)
		if err != nil {
			return built{}, 0, err
		}
	}
	return root, root.fileSize, nil
}

func (b *layout) more() bool {
	_, ok := b.leaves.peek()
	return ok
}

func (b *layout) nextLeaf() (built, bool) {
	l, ok := b.leaves.next()
	if !ok {
		return built{}, false
	}
	b.done += l.size
	if b.progress != nil {
		b.progress(b.done)
	}
	return built{CID: l.cid, fileSize: l.size, tsize: l.size}, true
}

// fill adds subtrees of depth-1 to children until the node is full or the
// input ends, then stores the node.
func (b *layout) fill(children []built, depth int) (built, error) {
	for len(children) < MaxLinks && b.more() {
		if err := b.ctx.Err(); err != nil {
			return built{}, err
		}
		var child built
		if depth == 1 {
			child, _ = b.nextLeaf()
		} else {
			var err error
			if child, err = b.fill(nil, depth-1); err != nil {
				return built{}, err
			}
		}
		children = append(children, child)
	}
	return b.store(children)
}

func (b *layout) store(children []built) (built, error) {
	// After a failure the children may be a truncated list: storing a
	// node of them would leave a block no file names.
	if err := b.ctx.Err(); err != nil {
		return built{}, err
	}
	links := make([]Link, len(children))
	sizes := make([]uint64, len(children))
	var fileSize, tsize uint64
	for i, ch := range children {
		links[i] = Link{CID: ch.CID, Tsize: ch.tsize}
		sizes[i] = ch.fileSize
		fileSize += ch.fileSize
		tsize += ch.tsize
	}
	data := encodeFileNode(links, sizes)
	c, err := NewCID(b.hash, cid.DagProtobuf, data)
	if err != nil {
		return built{}, err
	}
	if b.sink != nil {
		if err := b.sink.PutHashed(c, data); err != nil {
			return built{}, fmt.Errorf("add: store node %s: %w", c, err)
		}
	}
	b.blocks++
	return built{CID: c, fileSize: fileSize, tsize: tsize + uint64(len(data))}, nil
}
