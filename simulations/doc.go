// Package simulations runs whole cairn networks in one process: real
// node.Node instances (DHT, block exchange, repair, scrubber) on libp2p's
// mocknet, with links that can be slowed, cut into partitions and healed,
// nodes that join and die without warning, and disks that rot.
//
// Network is the harness; the scenarios are its tests: lookup cost
// against network size, churn, partition and bitrot. Each has a small
// variant (go test -short, run by make test) and a full one (make sim,
// -sim), which also writes report/README.md with SVG plots. The model
// subpackage replays kad-dht's lookups at sizes no one machine can run.
//
// What a scenario asserts is read off the stores themselves (which live
// node holds which block), never taken from what the nodes believe.
package simulations
