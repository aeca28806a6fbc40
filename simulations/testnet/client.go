package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cairnstore/cairn/gateway"
)

func (c *Client) getJSON(ctx context.Context, i int, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.daemons[i].API+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on node %d: %s", path, i, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// UpNodes is how many nodes node i's status lists as up.
func (c *Client) UpNodes(ctx context.Context, i int) (int, error) {
	var st gateway.ClusterStatus
	if err := c.getJSON(ctx, i, "/api/v1/status", &st); err != nil {
		return 0, err
	}
	up := 0
	for _, n := range st.Nodes {
		if n.State == "up" {
			up++
		}
	}
	return up, nil
}

// Copies are the live copies of a DAG's blocks as node i counts them:
// the fewest any block has, and the most.
func (c *Client) Copies(ctx context.Context, i int, cid string) (least, most int, err error) {
	var r gateway.ReplicasResponse
	if err := c.getJSON(ctx, i, "/api/v1/replicas/"+cid, &r); err != nil {
		return 0, 0, err
	}
	least = r.MinLive
	for _, ch := range r.Chunks {
		most = max(most, ch.Live)
	}
	return least, most, nil
}

// Peers are node i's connections, with the addresses they are on.
func (c *Client) Peers(ctx context.Context, i int) ([]gateway.PeerInfo, error) {
	var r gateway.PeersResponse
	err := c.getJSON(ctx, i, "/api/v1/peers", &r)
	return r.Peers, err
}
