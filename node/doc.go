// Package node is a cairn peer: the one object a program embeds. It owns
// the repo (node/repo), the local block store (chunk/store) and, from the
// peers issue on, the libp2p host, the DHT, the block exchange, replication
// and repair. Until then the CLI opens the repo and store directly.
package node
