package repo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// Version is the repo format version this build reads and writes.
// Version 2 added the cluster pin set (the cluster directory).
const Version = 2

// upgrades are the migrations Open runs by itself on an older repo, by
// the version they start from. A repo older than all of them is refused.
var upgrades = map[int]struct {
	name string
	run  func(path string) error
}{
	1: {"1-to-2 (cluster pin set: this node's pins join the cluster's set at the next daemon start, replica duty marks give way to references)",
		func(path string) error { return os.MkdirAll(filepath.Join(path, clusterDir), 0o700) }},
}

// Names of the entries of a repo directory.
const (
	configFile   = "config"
	versionFile  = "version"
	keyFile      = "identity.key"
	tokenFile    = "api-token"
	lockFileName = "repo.lock"
	blocksDir    = "blocks"
	clusterDir   = "cluster"
)

// tokenBytes is the API token's entropy; it is stored hex-encoded.
const tokenBytes = 32

// maxVersionFileSize bounds how much of the version file is read, so a
// corrupted (or hostile) huge file cannot exhaust memory.
const maxVersionFileSize = 64

// DefaultPath returns $CAIRN_PATH if it is set and non-empty, else
// $HOME/.cairn.
func DefaultPath() (string, error) {
	if p := os.Getenv("CAIRN_PATH"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("repo: no default path (set CAIRN_PATH): %w", err)
	}
	return filepath.Join(home, ".cairn"), nil
}

// InitOptions holds options for Init. It is empty for now and exists so
// options (e.g. a private-network swarm key) can be added compatibly.
type InitOptions struct{}

// testHookInitStep, when set by tests, is called after each step of Init
// with the name of the entry just created; an error fails Init there.
var testHookInitStep func(entry string) error

// testHookInitPrepared, when set by tests, is called by Init between
// prepareInitDir and taking the lock, the window in which a concurrent Init
// can complete unseen.
var testHookInitPrepared func()

// Init creates a repository at path and returns its config. path may be
// missing or an empty directory. A directory that already holds a config or
// version file is refused with ErrExists, one holding anything else with
// ErrNotEmpty. If Init fails midway it removes everything it created.
func Init(path string, opts InitOptions) (cfg *Config, err error) {
	_ = opts // no options yet

	// Undo list, removed in reverse on failure. Only entries this call
	// created itself go in: anything else may belong to a concurrent Init
	// (even a finished repo, or the lock file another process holds), and
	// removing it could destroy that repo or let two processes lock two
	// different files under the lock file's name. os.Remove rather than
	// os.RemoveAll, so a directory we created that someone else has since
	// put entries in stays, with their entries.
	var undo []string
	own := func(entry string) { undo = append(undo, entry) }
	// The undo runs while the lock is still held (it is released after), so
	// no one can lock the half-removed repo meanwhile; see isCurrent for a
	// racer that opened the lock file before we removed it.
	var lock *lockFile
	defer func() {
		if err == nil {
			if err = lock.release(); err == nil {
				return
			}
			// The lock is gone either way; undo without it.
			cfg, lock = nil, nil
		}
		for i := len(undo) - 1; i >= 0; i-- {
			_ = os.Remove(undo[i]) // best effort; err already says what went wrong
		}
		if lock != nil {
			_ = lock.release() // ditto
		}
	}()
	step := func(entry string) error {
		if testHookInitStep != nil {
			return testHookInitStep(entry)
		}
		return nil
	}

	dirs, err := prepareInitDir(path)
	for _, d := range dirs { // also on error: they are ours, and empty
		own(d)
	}
	if err != nil {
		return nil, err
	}
	if testHookInitPrepared != nil {
		testHookInitPrepared()
	}

	// Hold the lock while writing, so a concurrent Init or Open on the same
	// path cannot observe or interleave with a half-written repo.
	l, lockCreated, err := acquireLock(path)
	if err != nil {
		// On ErrLocked the lock file, even one we just created, is held by
		// the racing holder and must stay (see acquireLock); otherwise it is
		// ours to remove if we created it.
		if lockCreated && !errors.Is(err, ErrLocked) {
			own(filepath.Join(path, lockFileName))
		}
		return nil, err
	}
	lock = l
	// The checks in prepareInitDir ran before the lock was held: another
	// Init may have completed (and released the lock) since. Repeat them
	// now; the lock file, whoever created it, is the only entry allowed.
	if err := checkLockCurrent(path, lock); err != nil {
		return nil, err // the lock file's name is not ours to remove
	}
	if lockCreated {
		own(filepath.Join(path, lockFileName))
	}
	if err := checkInitDirEntries(path, lockFileName); err != nil {
		return nil, err
	}
	if err := step(lockFileName); err != nil {
		return nil, err
	}

	if err := os.Mkdir(filepath.Join(path, blocksDir), 0o700); err != nil {
		return nil, fmt.Errorf("repo: init %s: create blocks directory: %w", path, err)
	}
	own(filepath.Join(path, blocksDir))
	if err := step(blocksDir); err != nil {
		return nil, err
	}

	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("repo: init %s: generate identity key: %w", path, err)
	}
	keyData, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("repo: init %s: encode identity key: %w", path, err)
	}
	pid, err := peerIDFromPrivKey(priv)
	if err != nil {
		return nil, fmt.Errorf("repo: init %s: derive peer ID: %w", path, err)
	}
	if err := writeFileAtomic(filepath.Join(path, keyFile), keyData, 0o600); err != nil {
		return nil, fmt.Errorf("repo: init %s: write identity key: %w", path, err)
	}
	own(filepath.Join(path, keyFile))
	if err := step(keyFile); err != nil {
		return nil, err
	}

	token := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand.Reader, token); err != nil {
		return nil, fmt.Errorf("repo: init %s: generate API token: %w", path, err)
	}
	tokenData := []byte(hex.EncodeToString(token) + "\n")
	if err := writeFileAtomic(filepath.Join(path, tokenFile), tokenData, 0o600); err != nil {
		return nil, fmt.Errorf("repo: init %s: write API token: %w", path, err)
	}
	own(filepath.Join(path, tokenFile))
	if err := step(tokenFile); err != nil {
		return nil, err
	}

	cfg = DefaultConfig()
	cfg.Identity.PeerID = pid
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("repo: init %s: default config: %w", path, err)
	}
	if err := writeConfig(path, cfg); err != nil {
		return nil, fmt.Errorf("repo: init %s: %w", path, err)
	}
	own(filepath.Join(path, configFile))
	if err := step(configFile); err != nil {
		return nil, err
	}

	// The version file goes last: until it exists, the directory is not a
	// repo to Open, so a crash above never yields a repo missing a file.
	versionData := []byte(strconv.Itoa(Version) + "\n")
	if err := writeFileAtomic(filepath.Join(path, versionFile), versionData, 0o644); err != nil {
		return nil, fmt.Errorf("repo: init %s: write version: %w", path, err)
	}
	own(filepath.Join(path, versionFile))
	if err := step(versionFile); err != nil {
		return nil, err
	}
	return cfg, nil
}

// prepareInitDir makes sure path is an empty directory, creating it (and any
// missing parents) if needed. It returns the directories it created itself,
// outermost first, also on error, so that Init can remove them.
func prepareInitDir(path string) (created []string, err error) {
	created, err = mkdirs(path)
	if err != nil {
		return created, fmt.Errorf("repo: init %s: %w", path, err)
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return created, fmt.Errorf("repo: init %s: %w", path, err)
	case !info.IsDir():
		return created, fmt.Errorf("repo: init %s: not a directory", path)
	}
	// Check even a directory we just created: a concurrent Init may already
	// be writing into it.
	return created, checkInitDirEntries(path, "")
}

// checkInitDirEntries returns ErrExists if the directory path holds a config
// or version file, and ErrNotEmpty if it holds any entry other than allowed
// ("" allows none).
func checkInitDirEntries(path, allowed string) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("repo: init %s: %w", path, err)
	}
	for _, e := range entries {
		if e.Name() == configFile || e.Name() == versionFile {
			return newError(ErrExists, nil, "repo %s is already initialized (it holds a %s file)", path, e.Name())
		}
	}
	for _, e := range entries {
		if e.Name() != allowed {
			return newError(ErrNotEmpty, nil,
				"repo %s is not empty and holds no cairn repo (found %q): pick an empty or missing directory", path, e.Name())
		}
	}
	return nil
}

// checkLockCurrent fails with ErrLocked if the lock file lock holds is no
// longer the one named repo.lock in path: a concurrent Init that failed
// removed it, so our lock excludes no one.
func checkLockCurrent(path string, lock *lockFile) error {
	ok, err := lock.isCurrent()
	if err != nil {
		return fmt.Errorf("repo: init %s: check lock file: %w", path, err)
	}
	if !ok {
		return newError(ErrLocked, nil,
			"repo %s is being initialized by another process (its lock file was replaced): try again", path)
	}
	return nil
}

// Repo is an open, locked repository. Close it to release the lock.
type Repo struct {
	path   string
	config *Config

	closeOnce sync.Once
	closeErr  error
	lock      *lockFile
	migrated  []string
}

// Open opens the repository at path: it checks the format version, takes
// the lock and loads the config. It fails with ErrNotInitialized,
// ErrVersion, ErrLocked or ErrBadValue (invalid config).
func Open(path string) (*Repo, error) {
	// Check before locking so a path that is not a repo gets
	// ErrNotInitialized and no stray lock file.
	if err := CheckVersion(path); err != nil {
		return nil, err
	}
	lock, _, err := acquireLock(path)
	if err != nil {
		return nil, err
	}
	// Check again under the lock: a migration may have finished between
	// the first check and taking the lock.
	if err := CheckVersion(path); err != nil {
		_ = lock.release()
		return nil, err
	}
	migrated, err := upgrade(path)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	return &Repo{path: path, config: cfg, lock: lock, migrated: migrated}, nil
}

// upgrade runs the migrations from the repo's version to Version, each
// ending with the version file's atomic rewrite, and names those it ran.
func upgrade(path string) ([]string, error) {
	var ran []string
	for {
		v, err := readVersion(path)
		if err != nil {
			return ran, err
		}
		if v >= Version {
			return ran, nil
		}
		u := upgrades[v]
		if err := u.run(path); err != nil {
			return ran, fmt.Errorf("repo: migration %s: %w", u.name, err)
		}
		if err := writeFileAtomic(filepath.Join(path, versionFile), []byte(strconv.Itoa(v+1)+"\n"), 0o644); err != nil {
			return ran, fmt.Errorf("repo: migration %s: write version: %w", u.name, err)
		}
		ran = append(ran, u.name)
	}
}

// Migrated names the migrations Open ran on this repo.
func (r *Repo) Migrated() []string { return r.migrated }

// ClusterDir holds the node's replica of the cluster's pin set and its
// reference index.
func (r *Repo) ClusterDir() string { return filepath.Join(r.path, clusterDir) }

// Path returns the repo directory as given to Open.
func (r *Repo) Path() string { return r.path }

// Config returns the config as loaded at Open. Later edits of the file (by
// SetConfigValue) are not reflected.
func (r *Repo) Config() *Config { return r.config }

// BlocksDir returns the directory reserved for the block store.
func (r *Repo) BlocksDir() string { return filepath.Join(r.path, blocksDir) }

// DatastoreDir is where the daemon keeps the DHT's state.
func (r *Repo) DatastoreDir() string { return filepath.Join(r.path, "datastore") }

// SwarmKeyPath is the private-network key file; the swarm is public when
// it does not exist.
func SwarmKeyPath(path string) string { return filepath.Join(path, "swarm.key") }

// APIFilePath is the file in which a running daemon publishes its base URL.
func APIFilePath(path string) string { return filepath.Join(path, "api") }

// APISocketPath is the Unix socket on which a running daemon also serves
// its API, for the CLI on the same machine.
func APISocketPath(path string) string { return filepath.Join(path, "api.sock") }

// PrivKey reads the node's identity key and checks it against the peer ID
// recorded in the config.
func (r *Repo) PrivKey() (crypto.PrivKey, error) {
	data, err := os.ReadFile(filepath.Join(r.path, keyFile))
	if err != nil {
		return nil, fmt.Errorf("repo: read identity key: %w", err)
	}
	priv, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("repo: decode identity key %s: %w", filepath.Join(r.path, keyFile), err)
	}
	pid, err := peerIDFromPrivKey(priv)
	if err != nil {
		return nil, fmt.Errorf("repo: derive peer ID: %w", err)
	}
	if want := r.config.Identity.PeerID; want != "" && pid != want {
		return nil, fmt.Errorf("repo: %s belongs to peer %s but config Identity.PeerID is %s", keyFile, pid, want)
	}
	return priv, nil
}

// APIToken returns the HTTP API token (64 hex characters, no newline).
func (r *Repo) APIToken() (string, error) { return ReadAPIToken(r.path) }

// ReadAPIToken reads the API token of the repo at path without taking the
// lock: clients of a running daemon need it while the daemon holds the repo.
func ReadAPIToken(path string) (string, error) {
	data, err := os.ReadFile(filepath.Join(path, tokenFile))
	if err != nil {
		return "", fmt.Errorf("repo: read API token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(tok); err != nil || len(b) != tokenBytes {
		return "", fmt.Errorf("repo: %s is malformed: want %d hex characters", filepath.Join(path, tokenFile), 2*tokenBytes)
	}
	return tok, nil
}

// Close releases the lock. It is safe to call more than once; later calls
// return the first call's result.
func (r *Repo) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.lock.release() })
	return r.closeErr
}

// CheckVersion reports whether the repo at path has the format version this
// build supports, without taking the lock. It returns ErrNotInitialized if
// the directory, config or version file is missing, and ErrVersion if the
// version differs or the version file is unreadable.
func CheckVersion(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return notInitialized(path, "no such directory")
	}
	if err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	if !info.IsDir() {
		return notInitialized(path, "not a directory")
	}
	if _, err := os.Stat(filepath.Join(path, configFile)); errors.Is(err, fs.ErrNotExist) {
		return notInitialized(path, "no config file")
	} else if err != nil {
		return fmt.Errorf("repo: %w", err)
	}

	v, err := readVersion(path)
	if err != nil {
		return err
	}
	_, upgradable := upgrades[v]
	switch {
	case v < Version && upgradable:
		// Open upgrades it.
	case v < Version:
		return newError(ErrVersion, nil,
			"repo %s has format version %d, this cairn needs %d: run `cairn repo migrate` to upgrade it (migration %d-to-%d)",
			path, v, Version, v, Version)
	case v > Version:
		return newError(ErrVersion, nil,
			"repo %s has format version %d, newer than this cairn supports (%d): upgrade cairn",
			path, v, Version)
	}
	return nil
}

// readVersion reads the repo's format version.
func readVersion(path string) (int, error) {
	f, err := os.Open(filepath.Join(path, versionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, notInitialized(path, "no version file")
	}
	if err != nil {
		return 0, fmt.Errorf("repo: read version: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVersionFileSize+1))
	if err != nil {
		return 0, fmt.Errorf("repo: read version: %w", err)
	}
	text := strings.TrimSpace(string(data))
	v, err := strconv.Atoi(text)
	if err != nil || v < 0 || len(data) > maxVersionFileSize {
		if len(text) > 20 {
			text = text[:20] + "..."
		}
		return 0, newError(ErrVersion, nil,
			"repo %s has a corrupt version file (%q is not a format version number); this cairn supports version %d",
			path, text, Version)
	}
	return v, nil
}

func notInitialized(path, why string) error {
	return newError(ErrNotInitialized, nil, "repo %s is not initialized (%s): run `cairn init`", path, why)
}
