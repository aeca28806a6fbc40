package repo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multihash"
)

// initRepo creates a repo in a fresh temp dir and returns its path.
func initRepo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(path, InitOptions{}); err != nil {
		t.Fatalf("Init(%s): %v", path, err)
	}
	return path
}

// snapshot returns the names and contents of the regular files in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()+"/"] = ""
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("ReadFile: %v", err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func TestInitCreatesRepo(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the path to init
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "repo") }},
		{"missing parents", func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "b", "repo") }},
		{"empty existing directory", func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.setup(t)
			cfg, err := Init(path, InitOptions{})
			if err != nil {
				t.Fatalf("Init: %v", err)
			}

			modes := map[string]os.FileMode{
				configFile: 0o644, versionFile: 0o644, keyFile: 0o600, tokenFile: 0o600,
			}
			for name, want := range modes {
				info, err := os.Stat(filepath.Join(path, name))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := info.Mode().Perm(); got != want {
					t.Errorf("%s mode = %o, want %o", name, got, want)
				}
			}
			if info, err := os.Stat(filepath.Join(path, blocksDir)); err != nil || !info.IsDir() {
				t.Errorf("blocks dir: %v, %v", info, err)
			}
			if got := snapshot(t, path)[versionFile]; got != "2\n" {
				t.Errorf("version file = %q, want %q", got, "2\n")
			}
			for name := range snapshot(t, path) {
				if strings.HasPrefix(name, ".") {
					t.Errorf("leftover temp file %q", name)
				}
			}

			r, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()

			tok, err := r.APIToken()
			if err != nil {
				t.Fatalf("APIToken: %v", err)
			}
			if b, err := hex.DecodeString(tok); err != nil || len(tok) != 64 || len(b) != 32 {
				t.Errorf("token %q is not 64 hex chars", tok)
			}

			priv, err := r.PrivKey()
			if err != nil {
				t.Fatalf("PrivKey: %v", err)
			}
			if priv.Type() != crypto.Ed25519 {
				t.Errorf("key type = %v, want Ed25519", priv.Type())
			}
			assertPeerIDOf(t, cfg.Identity.PeerID, priv)
			if got := r.Config().Identity.PeerID; got != cfg.Identity.PeerID {
				t.Errorf("loaded PeerID %q != Init's %q", got, cfg.Identity.PeerID)
			}
		})
	}
}

// assertPeerIDOf checks id against libp2p's derivation independently of
// peerIDFromPrivKey: Ed25519 IDs are base58 identity multihashes of the
// protobuf public key and so always start with 12D3KooW.
func assertPeerIDOf(t *testing.T, id string, priv crypto.PrivKey) {
	t.Helper()
	if !strings.HasPrefix(id, "12D3KooW") {
		t.Errorf("PeerID %q lacks the Ed25519 prefix 12D3KooW", id)
	}
	mh, err := multihash.FromB58String(id)
	if err != nil {
		t.Fatalf("PeerID %q: %v", id, err)
	}
	dec, err := multihash.Decode(mh)
	if err != nil {
		t.Fatalf("PeerID %q: %v", id, err)
	}
	pub, err := crypto.MarshalPublicKey(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if dec.Code != multihash.IDENTITY || !bytes.Equal(dec.Digest, pub) {
		t.Errorf("PeerID %q does not encode the identity key's public key", id)
	}
}

func TestInitRefusesExistingRepo(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"complete repo", func(t *testing.T, dir string) {
			if _, err := Init(dir, InitOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"config file only", func(t *testing.T, dir string) { writeFile(t, dir, configFile, "{}") }},
		{"version file only", func(t *testing.T, dir string) { writeFile(t, dir, versionFile, "1\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before := snapshot(t, dir)

			_, err := Init(dir, InitOptions{})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Init over existing repo: err = %v, want ErrExists", err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the path", err)
			}
			if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("Init changed the directory:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestInitRefusesNonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "notes.txt", "mine")

	_, err := Init(dir, InitOptions{})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("err = %v, want ErrNotEmpty naming notes.txt", err)
	}
	if got := snapshot(t, dir); len(got) != 1 || got["notes.txt"] != "mine" {
		t.Errorf("directory changed: %v", got)
	}
}

func TestInitRemovesPartialRepoOnFailure(t *testing.T) {
	steps := []string{lockFileName, blocksDir, keyFile, tokenFile, configFile, versionFile}
	for _, step := range steps {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("fail after %s, existing dir %v", step, existing), func(t *testing.T) {
				parent := t.TempDir()
				path := filepath.Join(parent, "a", "repo")
				if existing {
					path = parent
				}
				injected := errors.New("injected failure")
				testHookInitStep = func(entry string) error {
					if entry == step {
						return injected
					}
					return nil
				}
				defer func() { testHookInitStep = nil }()

				if _, err := Init(path, InitOptions{}); !errors.Is(err, injected) {
					t.Fatalf("Init: err = %v, want the injected failure", err)
				}
				if got := snapshot(t, parent); len(got) != 0 {
					t.Errorf("Init left %v behind", got)
				}
			})
		}
	}
}

// TestInitRacingInitCompletesFirst reproduces two Inits on one path where
// the second passes prepareInitDir's emptiness check, the first then runs to
// completion (releasing the lock), and only then does the second take the
// lock. The second must refuse with ErrExists and leave the finished repo,
// including the lock file, exactly as it was.
func TestInitRacingInitCompletesFirst(t *testing.T) {
	for _, existing := range []bool{true, false} {
		t.Run(fmt.Sprintf("existing dir %v", existing), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a", "repo")
			if existing {
				path = t.TempDir()
			}
			var (
				before   map[string]string
				config   []byte
				lockInfo os.FileInfo
			)
			testHookInitPrepared = func() {
				testHookInitPrepared = nil // the racing Init runs straight through
				if _, err := Init(path, InitOptions{}); err != nil {
					t.Fatalf("racing Init: %v", err)
				}
				before = snapshot(t, path)
				config = readFile(t, path, configFile)
				lockInfo = statFile(t, path, lockFileName)
			}
			t.Cleanup(func() { testHookInitPrepared = nil })

			_, err := Init(path, InitOptions{})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Init that lost the race: err = %v, want ErrExists", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path", err)
			}
			if before == nil {
				t.Fatal("the hook did not run")
			}
			if after := snapshot(t, path); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("losing Init changed the repo:\nbefore %v\nafter  %v", before, after)
			}
			if got := readFile(t, path, configFile); !bytes.Equal(got, config) {
				t.Errorf("config changed:\nbefore %s\nafter  %s", config, got)
			}
			if got := statFile(t, path, lockFileName); !os.SameFile(got, lockInfo) {
				t.Error("lock file was replaced")
			}
			r, err := Open(path)
			if err != nil {
				t.Fatalf("Open the finished repo: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestInitRacingFileBeforeLock: a file that appears between prepareInitDir
// and taking the lock makes Init fail with ErrNotEmpty, keeping that file
// (and the directories holding it) while removing the lock file Init created.
func TestInitRacingFileBeforeLock(t *testing.T) {
	for _, existing := range []bool{true, false} {
		t.Run(fmt.Sprintf("existing dir %v", existing), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a", "repo")
			if existing {
				path = t.TempDir()
			}
			testHookInitPrepared = func() { writeFile(t, path, "notes.txt", "mine") }
			t.Cleanup(func() { testHookInitPrepared = nil })

			_, err := Init(path, InitOptions{})
			if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
				t.Fatalf("err = %v, want ErrNotEmpty naming notes.txt", err)
			}
			if got := snapshot(t, path); len(got) != 1 || got["notes.txt"] != "mine" {
				t.Errorf("directory now holds %v, want only notes.txt", got)
			}
		})
	}
}

func TestOpenUpgradesAVersion1RepoAndNamesTheMigration(t *testing.T) {
	path := initRepo(t)
	writeFile(t, path, versionFile, "1\n")
	if err := os.RemoveAll(filepath.Join(path, clusterDir)); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if m := r.Migrated(); len(m) != 1 || !strings.HasPrefix(m[0], "1-to-2") {
		t.Errorf("Migrated() = %q, want the 1-to-2 migration", m)
	}
	if v, err := readVersion(path); err != nil || v != Version {
		t.Errorf("version after Open: %d (%v), want %d", v, err, Version)
	}
	if fi, err := os.Stat(r.ClusterDir()); err != nil || !fi.IsDir() {
		t.Errorf("cluster directory: %v", err)
	}
}

func TestOpenChecksVersion(t *testing.T) {
	tests := []struct {
		version string
		wantErr error
		wantMsg []string
	}{
		{"2\n", nil, nil},
		{"2", nil, nil},
		{"1\n", nil, nil}, // upgraded by Open
		{"1", nil, nil},
		{"0\n", ErrVersion, []string{"format version 0, this cairn needs 2", "cairn repo migrate", "0-to-2"}},
		{"3\n", ErrVersion, []string{"format version 3", "upgrade cairn"}},
		{"garbage\n", ErrVersion, []string{"corrupt version file", `"garbage"`}},
		{"", ErrVersion, []string{"corrupt version file"}},
		{"-1\n", ErrVersion, []string{"corrupt version file"}},
		{strings.Repeat("1", 100), ErrVersion, []string{"corrupt version file"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("version %q", tt.version), func(t *testing.T) {
			path := initRepo(t)
			writeFile(t, path, versionFile, tt.version)

			for name, check := range map[string]func() error{
				"CheckVersion": func() error { return CheckVersion(path) },
				"Open": func() error {
					r, err := Open(path)
					if err == nil {
						r.Close()
					}
					return err
				},
			} {
				err := check()
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("%s: err = %v, want %v", name, err, tt.wantErr)
				}
				for _, want := range tt.wantMsg {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: message %q lacks %q", name, err, want)
					}
				}
			}
		})
	}
}

func TestOpenRefusesUninitializedRepo(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }},
		{"no version file", func(t *testing.T) string {
			p := initRepo(t)
			removeFile(t, p, versionFile)
			return p
		}},
		{"no config file", func(t *testing.T) string {
			p := initRepo(t)
			removeFile(t, p, configFile)
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.setup(t)
			before, _ := os.ReadDir(path)
			_, err := Open(path)
			if !errors.Is(err, ErrNotInitialized) {
				t.Fatalf("err = %v, want ErrNotInitialized", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "cairn init") {
				t.Errorf("message %q should name the path and suggest `cairn init`", err)
			}
			if after, _ := os.ReadDir(path); len(after) != len(before) {
				t.Errorf("Open created files in a non-repo: %v", after)
			}
		})
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name, cairnPath, home, want string
	}{
		{"CAIRN_PATH wins", "/srv/cairn", "/home/u", "/srv/cairn"},
		{"empty CAIRN_PATH falls back to HOME", "", "/home/u", "/home/u/.cairn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CAIRN_PATH", tt.cairnPath)
			t.Setenv("HOME", tt.home)
			got, err := DefaultPath()
			if err != nil || got != tt.want {
				t.Errorf("DefaultPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func statFile(t *testing.T, dir, name string) os.FileInfo {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return info
}
