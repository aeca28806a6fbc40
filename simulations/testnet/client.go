package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// Blocks lists the blocks of the DAG under root, as node i walks it
// (reading only the blocks that link).
func (c *Client) Blocks(ctx context.Context, i int, root string) ([]string, error) {
	var r gateway.ReplicasResponse
	if err := c.getJSON(ctx, i, "/api/v1/replicas/"+root, &r); err != nil {
		return nil, err
	}
	out := make([]string, len(r.Chunks))
	for k, ch := range r.Chunks {
		out[k] = ch.CID
	}
	return out, nil
}

// Peers are node i's connections, with the addresses they are on.
func (c *Client) Peers(ctx context.Context, i int) ([]gateway.PeerInfo, error) {
	var r gateway.PeersResponse
	err := c.getJSON(ctx, i, "/api/v1/peers", &r)
	return r.Peers, err
}

// Holds says whether node i holds block c itself, by a HEAD with
// Cache-Control: only-if-cached (412 when not held, with no fetch): the
// truth about a copy, whatever any node's view of its peers.
func (c *Client) Holds(ctx context.Context, i int, cid string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, "HEAD", c.daemons[i].API+"/ipfs/"+cid+"?format=raw", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Cache-Control", "only-if-cached")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusPreconditionFailed:
		return false, nil
	}
	return false, fmt.Errorf("HEAD /ipfs/%s on node %d: %s", cid, i, resp.Status)
}

// view tells whether root is in node i's pin set and which nodes its own
// view counts as holders of root's blocks: a diagnosis, in words.
func (c *Client) view(ctx context.Context, i int, root string, byID map[string]int) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pinned := "pinned"
	var ps gateway.PinStatus
	if err := c.getJSON(ctx, i, "/api/v1/status/"+root, &ps); err != nil {
		pinned = fmt.Sprintf("pin status: %v", err)
	}
	var r gateway.ReplicasResponse
	if err := c.getJSON(ctx, i, "/api/v1/replicas/"+root, &r); err != nil {
		return fmt.Sprintf("%s, replicas: %v", pinned, err)
	}
	var chunks []string
	for _, ch := range r.Chunks {
		var hs []string
		for _, h := range ch.Holders {
			if j, ok := byID[h]; ok {
				hs = append(hs, fmt.Sprint(j))
			} else {
				hs = append(hs, h)
			}
		}
		chunks = append(chunks, fmt.Sprintf("%d live [%s]", ch.Live, strings.Join(hs, " ")))
	}
	return fmt.Sprintf("%s, sees %s", pinned, strings.Join(chunks, ", "))
}

// Metric reads one of node i's Prometheus counters or gauges.
func (c *Client) Metric(ctx context.Context, i int, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.daemons[i].API+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("node %d has no metric %s", i, name)
}
