// Package simulations will run whole cairn networks in one process
// (lookup cost against N, churn, partitions, bitrot) and a larger model of
// the DHT. It arrives with the simulations issue; the package exists now
// because the repository's top-level layout is fixed.
package simulations
