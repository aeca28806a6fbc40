package fetchplan

import (
	"time"

	"github.com/ipfs/go-cid"
)

// WantID names one want, so that its blocks and its end can be told
// apart from those of the others in flight.
type WantID uint64

// EventKind says what happened.
type EventKind uint8

const (
	// Resolved answers a Resolve action: CIDs lists the blocks the store
	// lacks (in the order asked), Held those it holds, with their links.
	Resolved EventKind = iota + 1
	// BlockArrived says Want brought CID, with Links if it is an inner
	// node (decoded by the driver).
	BlockArrived
	// WantDone says Want ended with Outcome; CIDs lists the blocks the
	// provider said it does not have. Bytes and Elapsed measure the
	// provider's speed.
	WantDone
	// ProvidersFound ends a FindProviders action: Peers may hold the
	// fetch's blocks (without the driver itself and banned peers).
	ProvidersFound
	// ReaderWaits says a reader is blocked on CID: it jumps the queue.
	ReaderWaits
	// SlotGranted answers TakeSlot: the driver took one node-wide want
	// slot for the plan.
	SlotGranted
	// NoSlot answers TakeSlot: every node-wide slot is taken. Until
	// SlotFreed, the plan asks for none and the stall clock stops.
	NoSlot
	// SlotFreed says a node-wide slot was released after NoSlot.
	SlotFreed
)

// Outcome is how a want ended, as the driver classifies its error.
type Outcome uint8

const (
	// WantOK: every block came, or the provider said it lacks it.
	WantOK Outcome = iota
	// WantFailed: a transient failure (a stalled provider, a dropped
	// connection); after maxPeerFailures the provider is set aside.
	WantFailed
	// WantViolation: the provider broke the protocol; it is set aside.
	WantViolation
	// WantFatal: a failure no provider can help with (a full disk, a DAG
	// whose own bytes are malformed): the fetch fails with Err.
	WantFatal
)

// Held is a block the store holds, with its links if it is an inner node.
type Held struct {
	CID   cid.Cid
	Links []cid.Cid
}

// Event is one input to Step. Fields beyond Kind are used as each kind's
// comment says; a flat struct, so that an event per block costs no
// allocation on its way to the plan.
type Event struct {
	Kind    EventKind
	Want    WantID
	CID     cid.Cid
	Links   []cid.Cid
	CIDs    []cid.Cid
	Held    []Held
	Peers   []string
	Outcome Outcome
	Err     error
	Bytes   int64
	Elapsed time.Duration
}

// ActionKind says what the driver is to do.
type ActionKind uint8

const (
	// Resolve: check whether the store holds CIDs (reading held inner
	// nodes' links), then Step a Resolved event. A held block that fails
	// its check is dropped and reported missing.
	Resolve ActionKind = iota + 1
	// SendWant: ask Peer for CIDs as Want. Slotted says the want holds a
	// node-wide slot (granted earlier) that the driver releases when the
	// want ends. Every block that comes is a BlockArrived event; the end
	// is a WantDone event.
	SendWant
	// TakeSlot: the plan has a want to send but no node-wide slot; take
	// one and Step SlotGranted, or Step NoSlot.
	TakeSlot
	// ReleaseSlot: give back a granted slot the plan could not use.
	ReleaseSlot
	// FindProviders: look up providers of CID, then Step ProvidersFound
	// (also when the lookup failed, with no peers).
	FindProviders
	// Fail: the fetch has failed with Err.
	Fail
	// Done: every block of the DAG is held.
	Done
)

// Action is one output of Ready.
type Action struct {
	Kind    ActionKind
	Want    WantID
	Peer    string
	CIDs    []cid.Cid
	CID     cid.Cid
	Slotted bool
	Err     error
}
