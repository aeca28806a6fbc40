package repo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// GenerateSwarmKey writes a new private-network key to the repo at path in
// libp2p's pnet format (the one kubo uses), refusing to replace one.
func GenerateSwarmKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("repo: generate swarm key: %w", err)
	}
	data := "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key) + "\n"
	name := SwarmKeyPath(path)
	if _, err := os.Stat(name); err == nil {
		return fmt.Errorf("repo: %s already exists", name)
	}
	if err := writeFileAtomic(name, []byte(data), 0o600); err != nil {
		return fmt.Errorf("repo: write swarm key: %w", err)
	}
	return nil
}

// LoadSwarmKey reads the repo's swarm key; nil means the swarm is public.
func LoadSwarmKey(path string) (pnet.PSK, error) {
	f, err := os.Open(SwarmKeyPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repo: swarm key: %w", err)
	}
	defer f.Close()
	psk, err := pnet.DecodeV1PSK(f)
	if err != nil {
		return nil, fmt.Errorf("repo: %s is not a libp2p swarm key: %w", SwarmKeyPath(path), err)
	}
	return psk, nil
}
