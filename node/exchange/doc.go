// Package exchange implements cairn's block exchange protocol,
// /cairn/block/1.0.0 and /cairn/block/1.1.0: how peers ask each other for
// blocks, ask whether they hold blocks, and push blocks for replication.
//
// # Wire format
//
// Every request opens a new libp2p stream that carries that one request and
// its replies; the requester closes its side after the request, the server
// closes after the last reply. A stream is a sequence of frames:
//
//	frame = uvarint(n) | type (1 byte) | body (n-1 bytes)
//
// n is at most MaxFrame (1 MiB of block plus 4 KiB); a larger length is a
// protocol violation and the stream is reset at once, before anything is
// allocated. A CID inside a body is uvarint(len) | CID bytes.
//
// Requests (one per stream; on 1.1.0, a PUSH may be followed by more
// PUSHes, up to MaxPushBatch, and the pusher's close ends the batch):
//
//	0x01 WANT  body: 1 to MaxWant CIDs
//	0x02 HAVE  body: 1 to MaxHave CIDs
//	0x03 PUSH  body: CID | block bytes
//	0x04 PROVE body: nonce (32 bytes) | 1 to MaxProve CIDs
//
// Replies:
//
//	to WANT, one frame per wanted CID, in request order:
//	  0x11 BLOCK      body: CID | block bytes
//	  0x12 DONT_HAVE  body: CID
//	to HAVE, one frame:
//	  0x13 HAVES      body: bitmap, bit i (LSB first) set if CID i is held
//	                  durably (a block written but not yet committed is not)
//	to PUSH, one frame:
//	  0x14 STORED     (empty body) the block is durable (fsynced) on the receiver
//	  0x15 REFUSED    body: reason code (1 byte) | UTF-8 message
//	to a batch of PUSHes (1.1.0 only), one of those frames a push, in
//	  order, all after one commit: STORED means durable, as above
//	to PROVE, one frame:
//	  0x16 PROOFS     body: 32 bytes per CID, in request order: SHA-256 of
//	                  the nonce and the block, or 32 zero bytes for a block
//	                  the prover does not hold durably (or cannot read)
//
// Refusal codes: 1 full (no room), 2 busy (over a limit, try later),
// 3 invalid (the block does not match its CID or is malformed),
// 4 unwanted (the block is not the receiver's to keep), 5 leaving (the
// receiver is draining and takes nothing more).
//
// # Proof of possession
//
// A have-probe is a claim, cheap to make and cheap to fake. Where a copy
// is to count (toward a write quorum, the replication factor, a drain or a
// surplus drop) the asker sends a fresh random nonce with the CIDs and
// checks each proof against its own copy of the block: only a peer that
// has the block's bytes at hand can answer.
//
// # Trust
//
// Nothing a peer sends is trusted: every block is checked against its CID
// (hash, size limit, dag-pb well-formed) before anyone sees it, replies must
// name the CIDs asked for in the order asked, and a peer that breaks the
// protocol is reported to the node through a callback, which cuts it off.
// A server serves at most ServerConfig.MaxWantsPerPeer wants and pushes of
// one peer at once and takes the slot before it reads a push's block, so a
// peer that floods requests, or never reads the replies, ties up only its
// own share of the server's buffers.
package exchange
