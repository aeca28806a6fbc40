// Package chunk is cairn's content layer: it cuts files into 256 KiB chunks,
// names every block by a CIDv1, links the chunks into a balanced UnixFS
// dag-pb tree laid out exactly as `ipfs add --cid-version=1` lays it out (so
// a file has the same root CID in cairn and in IPFS), and reads such trees
// back as seekable byte streams.
//
// The package does no I/O of its own beyond the io.Reader it is handed: the
// blocks it makes go to a BlockSink and the blocks it reads come from a
// BlockGetter, both defined here and implemented by chunk/store (locally)
// and by the node (over the network).
//
// Layout decisions, all fixed by compatibility with kubo 0.42:
//   - leaves are raw blocks (codec 0x55) of at most ChunkSize bytes;
//   - inner nodes are dag-pb (codec 0x70) holding a UnixFS File node with
//     filesize and one blocksize per link, at most MaxLinks links each;
//   - links are encoded before Data and carry an empty Name (bytes 12 00);
//   - the tree is "balanced": a full tree of depth d becomes the first
//     child of a new root of depth d+1, and a partly filled subtree with a
//     single child is kept, not collapsed into that child;
//   - a file of at most one chunk is that raw leaf, and an empty file is the
//     empty raw block.
package chunk
