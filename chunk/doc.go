// Package chunk is cairn's content layer: it cuts files into 256 KiB chunks,
// names every block by a CIDv1, links the chunks into a balanced UnixFS
// dag-pb tree laid out exactly as `ipfs add --cid-version=1` lays it out (so
// a file has the same root CID in cairn and in IPFS), adds whole directory
// trees as `ipfs add -r --cid-version=1` does, and reads file trees back as
// seekable byte streams.
//
// A tree is added by AddTree from a TreeReader, a depth-first stream of
// entries, whatever it comes from: DiskTree walks a directory on disk
// (AddDir is AddTree over it), and a multipart HTTP upload can be read as
// one, so a folder has the same CID whichever way it arrives. Resolve
// follows a path through directories and HAMT shards, reading only the
// blocks on the way, and ListDir lists a directory's entries by name.
//
// Beyond the DAGs it makes, the package takes any IPLD block as a chunk
// like any other: Verify accepts raw, dag-pb, dag-cbor, dag-json, json and
// cbor blocks named by CIDv0 or CIDv1 with sha2-256, sha2-512, blake3 or
// identity multihashes, Links lists what a block links to whatever its
// codec, and Walk and WalkCIDs follow those links. Identity CIDs carry their
// bytes and are never stored: walkers skip them (but follow their links).
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
//
// Directories (AddTree), also fixed by kubo 0.42 (boxo):
//   - a directory is a dag-pb node holding UnixFS{Type: Directory} and one
//     link per entry, sorted by name in byte order, each link's Tsize the
//     entry's cumulative size (its block plus its links' Tsizes); empty
//     files and directories are kept, dotfiles skipped unless asked for;
//   - a symbolic link is never followed: it is a UnixFS Symlink node whose
//     Data is the target as written;
//   - a directory whose estimate (the sum of its names' lengths and its
//     CIDs' byte lengths) is over 256 KiB is a HAMT: shards of fanout 256
//     keyed by the murmur3-x64-64 hash of the name, one byte per level,
//     links named by the bucket in two uppercase hex digits followed by the
//     entry's name, or by the digits alone for a sub-shard of the entries
//     that share a bucket.
package chunk
