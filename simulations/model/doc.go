// Package model predicts how cairn's DHT behaves at internet scale, where
// no test network reaches: what lookups cost and how durable replicated
// objects are, computed without sockets.
//
// The lookup model builds a converged Kademlia network of up to a million
// simulated peers (100,000 fit in a few hundred MiB) whose routing tables
// have the shape go-libp2p-kbucket gives them, places provider records on
// the k peers closest to each key, and replays go-libp2p-kad-dht's
// iterative FindProviders lookup (alpha, beta, k, its termination rules and
// its follow-up round) over them, counting RPCs and hops exactly as
// cairn's dht package does. Run sweeps network sizes and FitLog2 fits the
// median hops against log2(N).
//
// The durability functions turn a node failure rate and a measured repair
// time into the probability of losing an object, or any of I objects, in
// a year.
//
// Where the model is simpler than the real thing:
//
//   - Routing tables are converged and static: every table holds, for each
//     common-prefix-length bucket, k peers drawn at random from all peers
//     with that prefix length, and the last bucket holds every peer closer
//     still, as a kbucket table that saw every peer would. Real tables
//     miss peers, hold departed ones, and change as lookups add the peers
//     they meet; here a lookup never changes a table.
//   - There is no latency: every query takes the same time, so replies
//     come back in the order the queries were sent (closest first within a
//     batch). kad-dht's reply order depends on real round trips.
//   - No peer fails unless Config.Offline says so. Offline peers stay in
//     routing tables (stale entries); querying one fails at the dial, which
//     kad-dht does not report as a query sent, so it costs no RPC here
//     either.
//   - There is one provider per key, and the record is held by the k peers
//     closest to the key (kad-dht's ADD_PROVIDER targets) and by the
//     provider itself (cairn adds a local record when it provides).
package model
