package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cairnstore/cairn/gateway"
	"github.com/cairnstore/cairn/node/repo"
)

// errNoDaemon is what network commands say when no daemon runs.
var errNoDaemon = errors.New("no cairn daemon is running for this repo: start one with `cairn daemon`")

// apiClient talks to the daemon that holds a repo.
type apiClient struct {
	// base is the daemon's URL. Through the socket too: its host is what
	// the daemon checks requests for the API against.
	base  string
	token string
	hc    *http.Client
	// socket is the Unix socket the calls go through; "" for TCP.
	socket string
}

// daemonClient returns a client of the daemon serving the repo at path,
// or nil when none runs: no api file, or a stale one left by a killed
// daemon that nothing answers at.
func daemonClient(path string) (*apiClient, error) {
	data, err := os.ReadFile(repo.APIFilePath(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	base := strings.TrimSpace(string(data))
	if _, err := url.Parse(base); err != nil || !strings.HasPrefix(base, "http://") {
		return nil, nil // not ours to make sense of; treat as stale
	}
	// Whatever answers must be this repo's node: after a killed daemon the
	// port may belong to another program, which must not get our token.
	cfg, err := repo.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	token, err := repo.ReadAPIToken(path)
	if err != nil {
		return nil, err
	}
	sock := repo.APISocketPath(path)
	if st, err := os.Stat(sock); err == nil && st.Mode()&os.ModeSocket != 0 {
		hc := &http.Client{Transport: socketTransport(sock)}
		if isDaemon(hc, base, cfg.Identity.PeerID, token) {
			return &apiClient{base: base, token: token, hc: hc, socket: sock}, nil
		}
		// Left by a killed daemon, or refused: try TCP.
	}
	if !isDaemon(&http.Client{}, base, cfg.Identity.PeerID, token) {
		return nil, nil // stale
	}
	return &apiClient{base: base, token: token, hc: &http.Client{}}, nil
}

// isDaemon says whether what answers at base through hc is the repo's
// daemon. It must be: after a killed daemon the port may belong to
// another program, which must not get our token.
func isDaemon(hc *http.Client, base, peerID, token string) bool {
	probe := *hc
	probe.Timeout = 2 * time.Second
	resp, err := probe.Get(base + "/api/v1/id")
	if err != nil {
		return false // nothing answers
	}
	var id gateway.IDResponse
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&id)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || id.ID != peerID {
		return false // something else answers there
	}
	// The peer ID is public: before the token goes out, what answers must
	// prove it knows the token, for a nonce of ours.
	return knowsToken(&probe, base, token)
}

// socketTransport is an HTTP transport whose every connection goes to the
// Unix socket at path, whatever the URL's host.
func socketTransport(path string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return t
}

// knowsToken asks the daemon at base for the proof of a fresh nonce under
// the token and checks it.
func knowsToken(hc *http.Client, base, token string) bool {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return false
	}
	resp, err := hc.Get(base + "/api/v1/auth/proof?nonce=" + hex.EncodeToString(nonce))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var p gateway.ProofResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&p) != nil {
		return false
	}
	return hmac.Equal([]byte(p.Proof), []byte(gateway.TokenProof(token, nonce)))
}

// requireDaemon is daemonClient for commands that need the network.
func requireDaemon(path string) (*apiClient, error) {
	c, err := daemonClient(path)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errNoDaemon
	}
	return c, nil
}

// request sends a call and returns the response if it succeeded; an error
// reply becomes an error carrying the daemon's one-line message.
func (c *apiClient) request(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	return c.requestType(ctx, method, path, "", body)
}

// requestType is request with the body's Content-Type.
func (c *apiClient) requestType(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e gateway.ErrorBody
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("daemon at %s: %s", c.base, resp.Status)
	}
	return resp, nil
}

// call sends a call and decodes its JSON reply into out.
func (c *apiClient) call(ctx context.Context, method, path string, body io.Reader, out any) error {
	return c.callType(ctx, method, path, "", body, out)
}

// callType is call with the body's Content-Type.
func (c *apiClient) callType(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.requestType(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("daemon at %s: bad reply to %s: %w", c.base, path, err)
	}
	return nil
}
