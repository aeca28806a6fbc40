// Package gateway will serve cairn over HTTP: trustless-gateway reads of
// /ipfs/{cid}, authenticated uploads, the /api/v1 JSON API for the CLI,
// /metrics and /healthz. It arrives with the gateway issue; the package
// exists now because the repository's top-level layout is fixed.
package gateway
