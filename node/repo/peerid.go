package repo

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerIDFromPrivKey returns the base58 peer ID of priv's public key.
func peerIDFromPrivKey(priv crypto.PrivKey) (string, error) {
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("derive peer ID: %w", err)
	}
	return id.String(), nil
}

// checkPeerID reports whether s is a well-formed peer ID.
func checkPeerID(s string) error {
	_, err := peer.Decode(s)
	return err
}
