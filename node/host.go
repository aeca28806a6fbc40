package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// newHost builds the libp2p host a node owns: TCP and (without a swarm
// key) QUIC, TLS or Noise, yamux, the resource and connection managers,
// and a gater that keeps banned peers out. Nothing that talks to addresses
// the config does not name is enabled: no relays, no NAT port mapping, no
// mDNS.
func newHost(priv crypto.PrivKey, listen []ma.Multiaddr, psk pnet.PSK, gater *banGater) (host.Host, error) {
	limits := rcmgr.DefaultLimits.AutoScale()
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	if err != nil {
		return nil, fmt.Errorf("node: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(100, 400, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("node: connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	if psk != nil {
		// libp2p's private networks cover TCP only; QUIC has no place for
		// the pre-shared key, so a private node does not speak it.
		opts = append(opts, libp2p.PrivateNetwork(psk))
		listen = tcpOnly(listen)
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("node: libp2p host: %w", err)
	}
	return h, nil
}

func tcpOnly(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// banGater refuses connections to and from peers that broke the protocol,
// for a while.
type banGater struct {
	mu     sync.Mutex
	banned map[peer.ID]time.Time
	now    func() time.Time
}

func newBanGater() *banGater {
	return &banGater{banned: map[peer.ID]time.Time{}, now: time.Now}
}

// ban keeps p out for d, and forgets the bans that have run out, so that
// a stream of peers banned once each does not grow the map for good.
func (g *banGater) ban(p peer.ID, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for q, until := range g.banned {
		if now.After(until) {
			delete(g.banned, q)
		}
	}
	g.banned[p] = now.Add(d)
}

func (g *banGater) isBanned(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.banned[p]
	if ok && g.now().After(until) {
		delete(g.banned, p)
		return false
	}
	return ok
}

func (g *banGater) InterceptPeerDial(p peer.ID) bool { return !g.isBanned(p) }
func (g *banGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return !g.isBanned(p)
}
func (g *banGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *banGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBanned(p)
}
func (g *banGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
