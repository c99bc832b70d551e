package crawl

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testConfig is the default configuration with the per-host delay off and
// short timeouts, so tests finish fast.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.PerHostDelay = 0
	cfg.Timeout = 5 * time.Second
	cfg.ConnectTimeout = 2 * time.Second
	return cfg
}

// site is an httptest server that counts the connections it accepts and
// the requests it is serving at once.
type site struct {
	*httptest.Server
	conns    atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	requests atomic.Int64
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newSite(t testing.TB, h http.Handler) *site {
	t.Helper()
	s := &site{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		n := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			m := s.maxIn.Load()
			if n <= m || s.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		h.ServeHTTP(w, r)
	}))
	srv.Listener = countingListener{Listener: srv.Listener, n: &s.conns}
	srv.Start()
	t.Cleanup(srv.Close)
	s.Server = srv
	return s
}

// addr is the server's address:port.
func (s *site) addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

// mapResolver resolves the names it knows to fixed addresses and nothing
// else: a fake DNS for tests.
type mapResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
}

func (r *mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// newCrawler builds a Builtin whose guard exempts exactly the given sites
// (every other internal address stays refused).
func newCrawler(t testing.TB, cfg Config, sites ...*site) *Builtin {
	t.Helper()
	var exempt []netip.AddrPort
	for _, s := range sites {
		exempt = append(exempt, s.addr())
	}
	b, err := NewBuiltin(cfg, WithExemptAddrs(exempt...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
