// Package dht will wrap go-libp2p-kad-dht for cairn: a private DHT with
// protocol prefix /cairn, batched providing, provider and closest-peer
// lookups, and per-lookup metrics. It arrives with the peers issue; the
// package exists now because the repository's top-level layout is fixed.
package dht
