// Package repo manages the on-disk repository of a cairn node: its
// configuration, format version, libp2p identity key, HTTP API token and the
// process lock that keeps two daemons from sharing one repository.
//
// A repository lives in a single directory, $CAIRN_PATH or ~/.cairn by
// default (see DefaultPath), laid out as:
//
//	config        JSON configuration (see Config), indented, replaced atomically
//	version       repository format version, one decimal line, e.g. "1\n"
//	identity.key  libp2p Ed25519 private key (crypto.MarshalPrivateKey), 0600
//	api-token     32 random bytes, hex-encoded, plus "\n", 0600
//	repo.lock     lock file; the lock is an flock(2) on an open descriptor
//	blocks/       block store data, owned by the block store
//
// The version file is the commit marker of Init: it is written last, and a
// directory without it is not a repository. Open refuses a repository whose
// format differs from Version, so that an old binary never misreads (or
// rewrites) data laid out by a newer one, and a new binary points the user at
// `cairn repo migrate` instead of guessing.
//
// The lock is advisory flock(2) held on an open file descriptor rather than a
// PID file: the kernel drops it when the process exits for any reason,
// SIGKILL included, so a crashed command never leaves the repository locked
// and there is no stale-lock detection to get wrong. The lock file itself is
// left in place. Because flock locks belong to open file descriptions, a
// second Open within the same process conflicts with the first exactly as
// another process would.
//
// Reading and editing the config (LoadConfig, SetConfigValue, CheckVersion)
// does not take the lock, so the config can be inspected and edited while a
// daemon runs; writes go through a temp file and rename, so readers see
// either the old or the new file, never a torn one. A running daemon keeps
// the config it loaded at Open until it restarts.
package repo
