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
const Version = 1

// Names of the entries of a repo directory.
const (
	configFile   = "config"
	versionFile  = "version"
	keyFile      = "identity.key"
	tokenFile    = "api-token"
	lockFileName = "repo.lock"
	blocksDir    = "blocks"
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

// Init creates a repository at path and returns its config. path may be
// missing or an empty directory. A directory that already holds a config or
// version file is refused with ErrExists, one holding anything else with
// ErrNotEmpty. If Init fails midway it removes everything it created.
func Init(path string, opts InitOptions) (cfg *Config, err error) {
	_ = opts // no options yet
	created, err := prepareInitDir(path)
	if err != nil {
		return nil, err
	}
	// Undo list, run in reverse on failure. An existing directory is left
	// in place; one Init created goes with everything under it.
	var undo []string
	if created != "" {
		undo = append(undo, created)
	}
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			_ = os.RemoveAll(undo[i]) // best effort; err already says what went wrong
		}
	}()
	step := func(entry string) error {
		undo = append(undo, filepath.Join(path, entry))
		if testHookInitStep != nil {
			return testHookInitStep(entry)
		}
		return nil
	}

	// Hold the lock while writing, so a concurrent Init or Open on the same
	// path cannot observe or interleave with a half-written repo.
	lock, err := acquireLock(path)
	if err != nil {
		// On ErrLocked the lock file belongs to the racing holder and must
		// stay (see acquireLock); otherwise it is ours to remove, since the
		// directory was empty a moment ago.
		if !errors.Is(err, ErrLocked) {
			undo = append(undo, filepath.Join(path, lockFileName))
		}
		return nil, err
	}
	defer func() {
		if rerr := lock.release(); rerr != nil && err == nil {
			cfg, err = nil, rerr // the undo below then removes the repo
		}
	}()
	if err := step(lockFileName); err != nil {
		return nil, err
	}

	if err := os.Mkdir(filepath.Join(path, blocksDir), 0o700); err != nil {
		return nil, fmt.Errorf("repo: init %s: create blocks directory: %w", path, err)
	}
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
	if err := step(configFile); err != nil {
		return nil, err
	}

	// The version file goes last: until it exists, the directory is not a
	// repo to Open, so a crash above never yields a repo missing a file.
	versionData := []byte(strconv.Itoa(Version) + "\n")
	if err := writeFileAtomic(filepath.Join(path, versionFile), versionData, 0o644); err != nil {
		return nil, fmt.Errorf("repo: init %s: write version: %w", path, err)
	}
	if err := step(versionFile); err != nil {
		return nil, err
	}
	return cfg, nil
}

// prepareInitDir makes sure path is an empty directory, creating it (and any
// missing parents) if needed. It returns the outermost directory it created,
// or "" if path already existed.
func prepareInitDir(path string) (created string, err error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		created, err = firstMissing(path)
		if err != nil {
			return "", fmt.Errorf("repo: init %s: %w", path, err)
		}
		if err := os.MkdirAll(path, 0o700); err != nil {
			return "", fmt.Errorf("repo: init %s: %w", path, err)
		}
		return created, nil
	case err != nil:
		return "", fmt.Errorf("repo: init %s: %w", path, err)
	case !info.IsDir():
		return "", fmt.Errorf("repo: init %s: not a directory", path)
	}

	entries, err := os.ReadDir(path)
	if err != nil {
		return "", fmt.Errorf("repo: init %s: %w", path, err)
	}
	for _, e := range entries {
		if e.Name() == configFile || e.Name() == versionFile {
			return "", newError(ErrExists, nil, "repo %s is already initialized (it holds a %s file)", path, e.Name())
		}
	}
	if len(entries) > 0 {
		return "", newError(ErrNotEmpty, nil,
			"repo %s is not empty and holds no cairn repo (found %q): pick an empty or missing directory", path, entries[0].Name())
	}
	return "", nil
}

// Repo is an open, locked repository. Close it to release the lock.
type Repo struct {
	path   string
	config *Config

	closeOnce sync.Once
	closeErr  error
	lock      *lockFile
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
	lock, err := acquireLock(path)
	if err != nil {
		return nil, err
	}
	// Check again under the lock: a migration may have finished between
	// the first check and taking the lock.
	if err := CheckVersion(path); err != nil {
		_ = lock.release()
		return nil, err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	return &Repo{path: path, config: cfg, lock: lock}, nil
}

// Path returns the repo directory as given to Open.
func (r *Repo) Path() string { return r.path }

// Config returns the config as loaded at Open. Later edits of the file (by
// SetConfigValue) are not reflected.
func (r *Repo) Config() *Config { return r.config }

// BlocksDir returns the directory reserved for the block store.
func (r *Repo) BlocksDir() string { return filepath.Join(r.path, blocksDir) }

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
func (r *Repo) APIToken() (string, error) {
	data, err := os.ReadFile(filepath.Join(r.path, tokenFile))
	if err != nil {
		return "", fmt.Errorf("repo: read API token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(tok); err != nil || len(b) != tokenBytes {
		return "", fmt.Errorf("repo: %s is malformed: want %d hex characters", filepath.Join(r.path, tokenFile), 2*tokenBytes)
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

	f, err := os.Open(filepath.Join(path, versionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return notInitialized(path, "no version file")
	}
	if err != nil {
		return fmt.Errorf("repo: read version: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVersionFileSize+1))
	if err != nil {
		return fmt.Errorf("repo: read version: %w", err)
	}
	text := strings.TrimSpace(string(data))
	v, err := strconv.Atoi(text)
	if err != nil || v < 0 || len(data) > maxVersionFileSize {
		if len(text) > 20 {
			text = text[:20] + "..."
		}
		return newError(ErrVersion, nil,
			"repo %s has a corrupt version file (%q is not a format version number); this cairn supports version %d",
			path, text, Version)
	}
	switch {
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

func notInitialized(path, why string) error {
	return newError(ErrNotInitialized, nil, "repo %s is not initialized (%s): run `cairn init`", path, why)
}
