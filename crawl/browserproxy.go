package crawl

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// guardedProxy is the HTTP proxy the browser talks through. Chromium
// connects to nothing but this proxy, and the proxy dials every origin
// with the guard's dialer: the guard sees the address actually dialled
// (after DNS, for every redirect hop, preconnect and tunnel), so neither a
// name that re-resolves to an internal address nor a speculative
// preconnect, which the CDP Fetch domain never sees, reaches one.
type guardedProxy struct {
	g   atomic.Pointer[guard] // nil refuses everything
	ln  net.Listener
	srv *http.Server
	tr  *http.Transport

	mu     sync.Mutex
	tunnel map[net.Conn]struct{} // hijacked connections, closed on shutdown
	closed bool
}

// startGuardedProxy listens on a free loopback port.
func startGuardedProxy() (*guardedProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browser proxy: %w", err)
	}
	p := &guardedProxy{ln: ln, tunnel: map[net.Conn]struct{}{}}
	p.tr = &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dial,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// dial dials with the current guard.
func (p *guardedProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g := p.g.Load()
	if g == nil {
		return nil, fmt.Errorf("%w: no guard set", errSSRF)
	}
	return g.dial(ctx, network, addr)
}

// URL is the proxy's address for Chromium's proxyServer setting.
func (p *guardedProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy and every connection through it.
func (p *guardedProxy) Close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
	p.mu.Lock()
	p.closed = true
	for c := range p.tunnel {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// track remembers a hijacked connection; false when the proxy is closed.
func (p *guardedProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.tunnel[c] = struct{}{}
	return true
}

func (p *guardedProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.tunnel, c)
	p.mu.Unlock()
}

// hopHeaders are not forwarded (RFC 9110 section 7.6.1, plus the proxy's own).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *guardedProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "only absolute http URLs", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// connect opens a tunnel (HTTPS, and websockets, which Chromium tunnels)
// to an address the guard allows.
func (p *guardedProxy) connect(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	upstream, err := p.dial(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = upstream.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		_ = upstream.Close()
		return
	}
	if !p.track(client) || !p.track(upstream) {
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	defer func() {
		p.untrack(client)
		p.untrack(upstream)
		_ = client.Close()
		_ = upstream.Close()
	}()
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, buf); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done // either side ending ends the tunnel
}
