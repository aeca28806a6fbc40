package node

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Every node publishes its status on a gossipsub topic every
// StatusInterval, as IPFS Cluster's informers do, and keeps the last
// report of each peer: so any node can show the whole cluster.

// StatusTopic is the gossipsub topic of node status reports.
const StatusTopic = "/cairn/status/1"

const maxStatusReport = 8 << 10

// statusReport is a report as it travels (JSON).
type statusReport struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Version   string   `json:"version"`
	Used      int64    `json:"used"`
	Capacity  int64    `json:"capacity"`
	Blocks    int64    `json:"blocks"`
	Under     int64    `json:"under_replicated"`
	Repairing int64    `json:"repairing"`
	Draining  bool     `json:"draining"`
}

// NodeStatus is one node of the cluster as this node sees it.
type NodeStatus struct {
	ID              peer.ID
	State           string // "up", "down" (silent for 3 intervals) or "draining"
	Addrs           []string
	Version         string
	Used            int64 // live block bytes (repo stat's Bytes)
	Capacity        int64 // Storage.Max
	Blocks          int64
	UnderReplicated int64 // chunks it found below R at its last walk
	Repairing       int64 // repairs waiting in its current walk
	LastSeen        time.Time
}

type heard struct {
	rep statusReport
	at  time.Time
}

// informer publishes this node's reports and keeps its peers'.
type informer struct {
	n     *Node
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	mu    sync.Mutex
	seen  map[peer.ID]heard
}

func newInformer(n *Node) (*informer, error) {
	in := &informer{n: n, seen: map[peer.ID]heard{}}
	if err := n.ps.RegisterTopicValidator(StatusTopic, in.validate); err != nil {
		return nil, fmt.Errorf("node: status topic: %w", err)
	}
	t, err := n.ps.Join(StatusTopic)
	if err != nil {
		n.ps.UnregisterTopicValidator(StatusTopic)
		return nil, fmt.Errorf("node: status topic: %w", err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		t.Close()
		n.ps.UnregisterTopicValidator(StatusTopic)
		return nil, fmt.Errorf("node: status topic: %w", err)
	}
	in.topic, in.sub = t, sub
	return in, nil
}

// validate takes only well-formed reports that their author signed about
// itself.
func (in *informer) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if len(msg.GetData()) > maxStatusReport {
		return pubsub.ValidationReject
	}
	var r statusReport
	if err := json.Unmarshal(msg.GetData(), &r); err != nil || r.ID != msg.GetFrom().String() {
		return pubsub.ValidationReject
	}
	return pubsub.ValidationAccept
}

// run publishes a report now and every StatusInterval, and records the
// reports peers publish, until the node closes.
func (in *informer) run() {
	ctx := in.n.ctx
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msg, err := in.sub.Next(ctx)
			if err != nil {
				return
			}
			var r statusReport
			if json.Unmarshal(msg.GetData(), &r) != nil || msg.GetFrom() == in.n.host.ID() {
				continue
			}
			in.mu.Lock()
			in.seen[msg.GetFrom()] = heard{rep: r, at: time.Now()}
			in.mu.Unlock()
		}
	}()
	defer wg.Wait()
	t := time.NewTicker(in.n.cfg.Cluster.StatusInterval)
	defer t.Stop()
	for {
		data, _ := json.Marshal(in.n.report())
		if err := in.topic.Publish(ctx, data); err != nil && ctx.Err() == nil {
			in.n.logf("status: publish: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *informer) close() {
	in.sub.Cancel()
	in.topic.Close()
	in.n.ps.UnregisterTopicValidator(StatusTopic)
}

var version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}()

// report is this node's status now.
func (n *Node) report() statusReport {
	st := n.store.Stats()
	rs := n.RepairStats()
	var addrs []string
	for _, a := range n.Addrs() {
		addrs = append(addrs, a.String())
	}
	return statusReport{ID: n.host.ID().String(), Addrs: addrs, Version: version, Used: st.Bytes,
		Capacity: n.store.Capacity(), Blocks: st.Blocks, Under: rs.UnderReplicated, Repairing: rs.Queue,
		Draining: n.draining.Load()}
}

// ClusterStatus lists every node this node has heard of, itself first,
// then by peer ID. A node not heard from for 3 status intervals is down.
func (n *Node) ClusterStatus() []NodeStatus {
	now := time.Now()
	out := []NodeStatus{toStatus(n.host.ID(), n.report(), now, false)}
	in := n.status
	in.mu.Lock()
	for id, h := range in.seen {
		out = append(out, toStatus(id, h.rep, h.at, now.Sub(h.at) > 3*n.cfg.Cluster.StatusInterval))
	}
	in.mu.Unlock()
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].ID < out[1+j].ID })
	return out
}

func toStatus(id peer.ID, r statusReport, at time.Time, silent bool) NodeStatus {
	s := NodeStatus{ID: id, State: "up", Addrs: r.Addrs, Version: r.Version, Used: r.Used, Capacity: r.Capacity,
		Blocks: r.Blocks, UnderReplicated: r.Under, Repairing: r.Repairing, LastSeen: at.UTC()}
	switch {
	case silent:
		s.State = "down"
	case r.Draining:
		s.State = "draining"
	}
	return s
}
