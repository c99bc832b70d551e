package crawl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Resolver resolves host names; *net.Resolver implements it. Tests inject
// one that maps made-up names to chosen addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// blockedPrefixes are the address ranges a crawl must never reach: loopback,
// private (RFC 1918), CGNAT, link-local (cloud metadata lives at
// 169.254.169.254), multicast, unspecified, benchmarking, documentation,
// reserved, and their IPv6 counterparts, plus the IPv6 forms that embed an
// IPv4 address (NAT64, 6to4, Teredo). IPv4-mapped IPv6 addresses are
// unmapped before the check.
var blockedPrefixes = func() []netip.Prefix {
	list := []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32",
		"2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	}
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}()

// allowedPorts are the only ports a crawl connects to unless private
// addresses are allowed: a post's link to :6379 or :5432 is an attack, not
// an article.
var allowedPorts = map[uint16]bool{80: true, 443: true}

// errSSRF marks a refusal of the guard; it survives the wrapping of
// net.OpError and url.Error so the failure is classified as KindSSRF.
var errSSRF = errors.New("address refused by the SSRF guard")

// guard refuses connections to internal addresses. It checks the address
// actually dialled — after DNS resolution, for every redirect hop — so
// neither a redirect nor a name that resolves (or re-resolves) to an
// internal address gets through.
type guard struct {
	allowPrivate bool
	// exempt are exact address:port pairs reachable although internal
	// (tests reach their httptest site this way while every other internal
	// address stays refused).
	exempt   map[netip.AddrPort]bool
	resolver Resolver
	dialer   *net.Dialer
}

func newGuard(allowPrivate bool, exempt []netip.AddrPort, resolver Resolver, connectTimeout time.Duration) *guard {
	g := &guard{allowPrivate: allowPrivate, exempt: map[netip.AddrPort]bool{}, resolver: resolver}
	for _, ap := range exempt {
		g.exempt[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
	}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	g.dialer = &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	return g
}

// check reports why ap must not be dialled, or nil.
func (g *guard) check(ap netip.AddrPort) error {
	addr := ap.Addr().Unmap()
	if g.allowPrivate || g.exempt[netip.AddrPortFrom(addr, ap.Port())] {
		return nil
	}
	if !addr.IsValid() || addr.Zone() != "" {
		return fmt.Errorf("%w: %s", errSSRF, ap)
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is in %s", errSSRF, addr, p)
		}
	}
	if !allowedPorts[ap.Port()] {
		return fmt.Errorf("%w: port %d (only 80 and 443)", errSSRF, ap.Port())
	}
	return nil
}

// control is the net.Dialer hook: it runs after the address is chosen and
// before the socket connects, so a refused address never sees a packet.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("%w: network %s", errSSRF, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", errSSRF, address)
	}
	return g.check(ap)
}

// dial resolves addr with the guard's resolver, drops every refused
// address, and dials the allowed ones in order (the dialer's Control hook
// checks each again). A name with no allowed address fails with errSSRF
// without any connection being attempted.
func (g *guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
	}
	var refused, lastErr error
	for _, ip := range addrs {
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if err := g.check(ap); err != nil {
			refused = err
			continue
		}
		conn, err := g.dialer.DialContext(ctx, network, ap.String())
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if refused != nil {
		return nil, fmt.Errorf("dial %s: %w", host, refused)
	}
	return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
}
