package crawl

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const articleHTML = `<!doctype html><html lang="ru"><head><title>Статья</title></head><body><article><h1>Статья</h1>
<p>Первый абзац статьи о том, как устроены потоки данных в Redis, с достаточным количеством слов для разбора.</p>
<p>Второй абзац статьи рассказывает о группах потребителей и подтверждении сообщений после обработки.</p>
<p>Третий абзац подводит итог и объясняет, почему повторная доставка не должна менять результат.</p>
</article></body></html>`

func serveArticle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/robots.txt" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(articleHTML))
}

func crawlErr(t *testing.T, c Crawler, url string) (Result, *Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Crawl(ctx, url)
	if err == nil {
		t.Fatalf("Crawl(%s) succeeded, want a failure", url)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Crawl(%s) error %v is not an *Error", url, err)
	}
	if res.Error == "" || res.ErrorKind != ce.Kind {
		t.Errorf("result error %q kind %q, want the failure recorded", res.Error, res.ErrorKind)
	}
	return res, ce
}

// TestSSRFRefused checks that internal addresses are refused at dial time
// with allow_private_addresses off, and that no connection reaches the
// target: each target is an httptest server counting accepted connections.
func TestSSRFRefused(t *testing.T) {
	t.Parallel()
	internal := newSite(t, http.HandlerFunc(serveArticle)) // the victim: an internal service on loopback
	allowed := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/to-loopback":
			http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-rebind":
			http.Redirect(w, r, "http://rebind.test:"+fmt.Sprint(internal.addr().Port())+"/secret", http.StatusFound)
		default:
			serveArticle(w, r)
		}
	}))
	resolver := &mapResolver{names: map[string][]netip.Addr{
		// A public-looking name that resolves to loopback.
		"evil.test":   {netip.MustParseAddr("127.0.0.1")},
		"rebind.test": {netip.MustParseAddr("127.0.0.1")},
		// IPv4-mapped IPv6 form of loopback.
		"mapped.test": {netip.MustParseAddr("::ffff:127.0.0.1")},
	}}
	cfg := testConfig()
	cfg.Timeout = 3 * time.Second
	if cfg.AllowPrivateAddresses {
		t.Fatal("allow_private_addresses must default to off")
	}
	c, err := NewBuiltin(cfg, WithResolver(resolver), WithExemptAddrs(allowed.addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := internal.addr().Port()
	tests := []struct {
		name, url string
	}{
		{"loopback literal", internal.URL + "/secret"},
		{"loopback other spelling", fmt.Sprintf("http://127.1.2.3:%d/", port)},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/"},
		{"private 10/8", "http://10.0.0.5/"},
		{"private 192.168/16", "http://192.168.1.1/admin"},
		{"CGNAT", "http://100.64.0.1/"},
		{"IPv6 loopback", fmt.Sprintf("http://[::1]:%d/", port)},
		{"IPv6 ULA", "http://[fd00::1]/"},
		{"IPv4-mapped IPv6 loopback", fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port)},
		{"name resolving to loopback", fmt.Sprintf("http://evil.test:%d/secret", port)},
		{"name resolving to mapped loopback", fmt.Sprintf("http://mapped.test:%d/secret", port)},
		{"redirect from an allowed site to loopback", allowed.URL + "/to-loopback"},
		{"redirect from an allowed site to metadata", allowed.URL + "/to-metadata"},
		{"redirect to a name resolving to loopback", allowed.URL + "/to-rebind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ce := crawlErr(t, c, tt.url)
			if ce.Kind != KindSSRF || ce.Transient {
				t.Errorf("error %v: kind %s transient %v, want permanent %s", ce, ce.Kind, ce.Transient, KindSSRF)
			}
		})
	}
	if n := internal.conns.Load(); n != 0 {
		t.Errorf("the internal server accepted %d connections, want 0", n)
	}
	// The allowed site itself works: the guard refuses addresses, not all.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := c.Crawl(ctx, allowed.URL+"/article"); err != nil || res.Title != "Статья" {
		t.Errorf("allowed site: %v, title %q", err, res.Title)
	}
}

func TestGuardCheck(t *testing.T) {
	g := newGuard(false, nil, nil, time.Second)
	for _, s := range []string{"127.0.0.1:80", "10.1.2.3:443", "172.16.0.1:80", "192.168.0.1:80", "169.254.169.254:80",
		"100.64.0.1:80", "0.0.0.0:80", "224.0.0.1:80", "255.255.255.255:80", "198.18.0.1:80",
		"[::1]:80", "[::]:80", "[fe80::1]:80", "[fc00::1]:443", "[ff02::1]:80", "[::ffff:10.0.0.1]:80",
		"[64:ff9b::a00:1]:80", "[2002:7f00:1::1]:80", "93.184.216.34:25", "93.184.216.34:6379"} {
		if err := g.check(netip.MustParseAddrPort(s)); !errors.Is(err, errSSRF) {
			t.Errorf("check(%s) = %v, want refused", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34:80", "93.184.216.34:443", "[2606:2800:220:1:248:1893:25c8:1946]:443", "8.8.8.8:443"} {
		if err := g.check(netip.MustParseAddrPort(s)); err != nil {
			t.Errorf("check(%s) = %v, want allowed", s, err)
		}
	}
	open := newGuard(true, nil, nil, time.Second)
	if err := open.check(netip.MustParseAddrPort("127.0.0.1:6379")); err != nil {
		t.Errorf("allow_private_addresses on: %v", err)
	}
}

// TestGuardRefusesEveryBlockedRange dials one address inside each range the
// guard must refuse — on an allowed port, so only the range can refuse it —
// and wants the refusal to name that range: dropping any entry of the list
// (the Teredo prefix 2001::/32, whose addresses embed an IPv4 address, say)
// lets its sample through. Every entry of blockedPrefixes has a row.
func TestGuardRefusesEveryBlockedRange(t *testing.T) {
	t.Parallel()
	g := newGuard(false, nil, nil, time.Second)
	tests := []struct{ prefix, addr string }{
		{"0.0.0.0/8", "0.1.2.3"},
		{"10.0.0.0/8", "10.20.30.40"},
		{"100.64.0.0/10", "100.100.1.1"},
		{"127.0.0.0/8", "127.0.0.53"},
		{"169.254.0.0/16", "169.254.169.254"},
		{"172.16.0.0/12", "172.31.255.1"},
		{"192.0.0.0/24", "192.0.0.170"},
		{"192.0.2.0/24", "192.0.2.10"},
		{"192.88.99.0/24", "192.88.99.1"},
		{"192.168.0.0/16", "192.168.1.1"},
		{"198.18.0.0/15", "198.19.0.1"},
		{"198.51.100.0/24", "198.51.100.7"},
		{"203.0.113.0/24", "203.0.113.9"},
		{"224.0.0.0/4", "239.255.255.250"},
		{"240.0.0.0/4", "250.1.1.1"},
		{"::/128", "::"},
		{"::1/128", "::1"},
		{"64:ff9b::/96", "64:ff9b::7f00:1"},                   // NAT64 of 127.0.0.1
		{"64:ff9b:1::/48", "64:ff9b:1::a00:1"},                // local-use NAT64
		{"100::/64", "100::1"},                                // discard-only
		{"2001::/32", "2001:0:4136:e378:8000:63bf:3fff:fdd2"}, // Teredo
		{"2001::/32", "2001::80ff:fffe"},                      // Teredo, server 0.0.0.0, client 127.0.0.1 (obfuscated)
		{"2001:db8::/32", "2001:db8::1"},
		{"2002::/16", "2002:a9fe:a9fe::1"}, // 6to4 of 169.254.169.254
		{"fc00::/7", "fd12:3456::1"},
		{"fe80::/10", "fe80::1"},
		{"fec0::/10", "fec0::1"},
		{"ff00::/8", "ff02::1"},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.prefix] = true
		for _, port := range []uint16{80, 443} {
			ap := netip.AddrPortFrom(netip.MustParseAddr(tc.addr), port)
			err := g.check(ap)
			if !errors.Is(err, errSSRF) || !strings.Contains(err.Error(), "is in "+tc.prefix) {
				t.Errorf("check(%s) = %v, want refused as in %s", ap, err, tc.prefix)
			}
		}
	}
	for _, p := range blockedPrefixes {
		if !covered[p.String()] {
			t.Errorf("blocked range %s has no row here", p)
		}
	}
}

func TestRobotsDisallow(t *testing.T) {
	t.Parallel()
	var pageHits, robotsHits atomic.Int64
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			robotsHits.Add(1)
			fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n\nUser-agent: assistant-crawler\nDisallow: /no-bots/\nAllow: /\n")
			return
		}
		if r.URL.Path == "/short-link" {
			http.Redirect(w, r, "/no-bots/target", http.StatusFound)
			return
		}
		pageHits.Add(1)
		serveArticle(w, r)
	}))
	c := newCrawler(t, testConfig(), s)
	_, ce := crawlErr(t, c, s.URL+"/no-bots/page")
	if ce.Kind != KindRobots || ce.Transient {
		t.Errorf("disallowed page: %v, want permanent %s", ce, KindRobots)
	}
	// A redirect into a disallowed path is stopped at that hop.
	if _, ce := crawlErr(t, c, s.URL+"/short-link"); ce.Kind != KindRobots {
		t.Errorf("redirect to a disallowed page: %v, want %s", ce, KindRobots)
	}
	if pageHits.Load() != 0 {
		t.Errorf("a disallowed page was fetched (%d page requests)", pageHits.Load())
	}
	// Our group allows /private/ (the * group does not apply to us).
	for range 3 {
		if _, err := c.Crawl(context.Background(), s.URL+"/private/ok"); err != nil {
			t.Errorf("allowed page: %v", err)
		}
	}
	if got := robotsHits.Load(); got != 1 {
		t.Errorf("robots.txt fetched %d times, want once (cached per host)", got)
	}
}

// TestPerHostConcurrency crawls many pages of one host at once and checks,
// in the server, that no more than per_host_concurrency requests were ever
// in flight — and that the crawl did run that many in parallel.
func TestPerHostConcurrency(t *testing.T) {
	t.Parallel()
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/robots.txt" {
			time.Sleep(30 * time.Millisecond)
		}
		serveArticle(w, r)
	}))
	cfg := testConfig()
	cfg.PerHostConcurrency = 3
	c := newCrawler(t, cfg, s)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if _, err := c.Crawl(context.Background(), fmt.Sprintf("%s/p/%d", s.URL, i)); err != nil {
				t.Errorf("crawl %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if m := s.maxIn.Load(); m != 3 {
		t.Errorf("server saw at most %d requests in flight, want exactly the limit 3", m)
	}
}

func TestPerHostDelay(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var starts []time.Time
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/robots.txt" {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
		}
		serveArticle(w, r)
	}))
	cfg := testConfig()
	cfg.PerHostDelay = 100 * time.Millisecond
	cfg.PerHostConcurrency = 4
	c := newCrawler(t, cfg, s)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { _, _ = c.Crawl(context.Background(), fmt.Sprintf("%s/d/%d", s.URL, i)) })
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 4 {
		t.Fatalf("%d requests", len(starts))
	}
	// Seen from the server, a new connection's dial can shift one start by
	// a few tens of milliseconds, so only the span is checked here; the
	// limiter's own spacing is checked exactly in TestHostLimiter.
	if span := starts[3].Sub(starts[0]); span < 200*time.Millisecond {
		t.Errorf("4 requests with a 100ms delay started within %v, want about 300ms", span)
	}
}

func TestHostLimiter(t *testing.T) {
	t.Parallel()
	l := newHostLimiter(2, 50*time.Millisecond)
	var mu sync.Mutex
	var got []time.Time
	var inflight, maxIn atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			release, err := l.acquire(context.Background(), "a.example")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, time.Now())
			mu.Unlock()
			n := inflight.Add(1)
			if n > maxIn.Load() {
				maxIn.Store(n)
			}
			time.Sleep(80 * time.Millisecond)
			inflight.Add(-1)
			release()
		})
	}
	// Another host is not held back by the first.
	start := time.Now()
	release, _ := l.acquire(context.Background(), "b.example")
	release()
	if d := time.Since(start); d > 30*time.Millisecond {
		t.Errorf("another host waited %v", d)
	}
	wg.Wait()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	// Each acquisition is scheduled 50ms after the previous one. A waker
	// that runs late (this machine is shared) shortens the gap measured
	// after it, never the schedule, so the span is what is checked.
	if span := got[len(got)-1].Sub(got[0]); span < 200*time.Millisecond {
		t.Errorf("6 acquisitions within %v, want about 250ms", span)
	}
	if maxIn.Load() > 2 {
		t.Errorf("%d holders at once, limit 2", maxIn.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.acquire(ctx, "a.example"); err == nil {
		t.Error("acquire with a cancelled context succeeded")
	}
	if len(l.hosts) > 1 {
		t.Errorf("%d idle host states kept", len(l.hosts))
	}
}

// TestSlowLoris: a server that trickles its body forever is cut at the
// total timeout, and the failure is transient.
func TestSlowLoris(t *testing.T) {
	t.Parallel()
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/no-headers" {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fl := w.(http.Flusher)
		_, _ = w.Write([]byte("<html><body><p>"))
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
				_, _ = w.Write([]byte("a"))
				fl.Flush()
			}
		}
	}))
	cfg := testConfig()
	cfg.Timeout = 700 * time.Millisecond
	c := newCrawler(t, cfg, s)
	start := time.Now()
	_, ce := crawlErr(t, c, s.URL+"/slow")
	took := time.Since(start)
	if ce.Kind != KindTimeout || !ce.Transient {
		t.Errorf("slow body: %v, want transient %s", ce, KindTimeout)
	}
	if took > 3*time.Second {
		t.Errorf("took %v to give up, want about the 700ms timeout", took)
	}
	// A server that never sends its headers is cut the same way.
	start = time.Now()
	_, ce = crawlErr(t, c, s.URL+"/no-headers")
	if ce.Kind != KindTimeout || !ce.Transient || time.Since(start) > 3*time.Second {
		t.Errorf("silent server: %v after %v, want a transient %s at about 700ms", ce, time.Since(start), KindTimeout)
	}
}

// TestBodyCap: a 50 MiB body is cut at the 10 MiB cap, read as a stream
// (the server manages to write little more than the cap before the
// connection is closed).
func TestBodyCap(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/declared" {
			w.Header().Set("Content-Length", fmt.Sprint(50<<20))
		}
		chunk := []byte(strings.Repeat("<p>filler filler filler</p>\n", 1024))
		for written.Load() < 50<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	cfg := testConfig()
	cfg.Timeout = 30 * time.Second // the race detector makes 10 MiB slow to read
	c := newCrawler(t, cfg, s)
	start := time.Now()
	res, ce := crawlErr(t, c, s.URL+"/big")
	t.Logf("cut after %v", time.Since(start))
	if ce.Kind != KindTooLarge || ce.Transient {
		t.Errorf("50 MiB body: %v, want permanent %s", ce, KindTooLarge)
	}
	if res.Bytes > cfg.MaxBodyBytes+1 {
		t.Errorf("read %d bytes, cap is %d", res.Bytes, cfg.MaxBodyBytes)
	}
	// Give the server a moment to notice the closed connection.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && s.inflight.Load() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if w := written.Load(); w >= 30<<20 {
		t.Errorf("server wrote %d MiB before the client stopped reading, want about the 10 MiB cap", w>>20)
	}
	written.Store(0)
	if _, ce := crawlErr(t, c, s.URL+"/declared"); ce.Kind != KindTooLarge {
		t.Errorf("declared 50 MiB: %v", ce)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var loopHits atomic.Int64
	var s *site
	s = newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/robots.txt":
			http.NotFound(w, r)
		case r.URL.Path == "/loop-a":
			loopHits.Add(1)
			http.Redirect(w, r, "/loop-b", http.StatusFound)
		case r.URL.Path == "/loop-b":
			loopHits.Add(1)
			http.Redirect(w, r, "/loop-a", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			var n int
			fmt.Sscanf(r.URL.Path, "/hop/%d", &n)
			if n == 0 {
				serveArticle(w, r)
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	c := newCrawler(t, testConfig(), s)
	_, ce := crawlErr(t, c, s.URL+"/loop-a")
	if ce.Kind != KindRedirects || ce.Transient {
		t.Errorf("redirect loop: %v, want permanent %s", ce, KindRedirects)
	}
	if n := loopHits.Load(); n != 4 {
		t.Errorf("loop served %d times, want 4 (the request and 3 redirects)", n)
	}
	res, err := c.Crawl(context.Background(), s.URL+"/hop/3")
	if err != nil || res.FinalURL != s.URL+"/hop/0" {
		t.Errorf("3 redirects: %v, final URL %q", err, res.FinalURL)
	}
	if _, ce := crawlErr(t, c, s.URL+"/hop/4"); ce.Kind != KindRedirects {
		t.Errorf("4 redirects: %v", ce)
	}
}

func TestGzipAndChunked(t *testing.T) {
	t.Parallel()
	var sawGzip atomic.Bool
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/gzip":
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				http.Error(w, "gzip only", 406)
				return
			}
			sawGzip.Store(true)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write([]byte(articleHTML))
			_ = zw.Close()
		case "/chunked":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fl := w.(http.Flusher)
			for part := range strings.SplitSeq(articleHTML, "<p>") {
				_, _ = w.Write([]byte(part + "<p>"))
				fl.Flush() // no Content-Length: Transfer-Encoding: chunked
			}
		}
	}))
	c := newCrawler(t, testConfig(), s)
	for _, p := range []string{"/gzip", "/chunked"} {
		res, err := c.Crawl(context.Background(), s.URL+p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if res.Title != "Статья" || !strings.Contains(res.Markdown, "группах потребителей") {
			t.Errorf("%s: title %q, Markdown %q", p, res.Title, res.Markdown)
		}
	}
	if !sawGzip.Load() {
		t.Error("the gzip page was never served compressed")
	}
}

func TestStatusAndContentTypes(t *testing.T) {
	t.Parallel()
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/pdf":
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = w.Write([]byte("%PDF-1.7 ..."))
		case "/image":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write([]byte{0xff, 0xd8, 0xff})
		case "/sniffed-png":
			w.Header()["Content-Type"] = nil // no type: sniffed
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n0000000000"))
		case "/text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("Заголовок заметки\n\nТекст заметки о том, что релиз вышел вовремя и без сюрпризов для пользователей системы.\n"))
		case "/gone":
			http.Error(w, "gone", http.StatusGone)
		case "/busy":
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "/down":
			http.Error(w, "oops", http.StatusBadGateway)
		}
	}))
	c := newCrawler(t, testConfig(), s)
	for _, tt := range []struct {
		path, kind, ctype string
		transient         bool
		status            int
		retry             time.Duration
	}{
		{"/pdf", KindUnsupportedType, "application/pdf", false, 200, 0},
		{"/image", KindUnsupportedType, "image/jpeg", false, 200, 0},
		{"/sniffed-png", KindUnsupportedType, "image/png", false, 200, 0},
		{"/gone", KindHTTPStatus, "", false, 410, 0},
		{"/busy", KindRateLimited, "", true, 429, 7 * time.Second},
		{"/down", KindServerError, "", true, 502, 0},
	} {
		res, ce := crawlErr(t, c, s.URL+tt.path)
		if ce.Kind != tt.kind || ce.Transient != tt.transient || res.Status != tt.status || ce.RetryAfter != tt.retry {
			t.Errorf("%s: %v (transient %v, status %d, retry after %v), want %s transient %v status %d retry %v",
				tt.path, ce, ce.Transient, res.Status, ce.RetryAfter, tt.kind, tt.transient, tt.status, tt.retry)
		}
		if tt.ctype != "" && !strings.HasPrefix(res.ContentType, tt.ctype) {
			t.Errorf("%s: content type %q recorded, want %q", tt.path, res.ContentType, tt.ctype)
		}
	}
	res, err := c.Crawl(context.Background(), s.URL+"/text")
	if err != nil || res.Title != "Заголовок заметки" || res.Language != "ru" || res.WordCount != 16 {
		t.Errorf("text/plain: %v, title %q, lang %q, words %d", err, res.Title, res.Language, res.WordCount)
	}
	if _, ce := crawlErr(t, c, "ftp://example.org/file"); ce.Kind != KindInvalidURL {
		t.Errorf("ftp URL: %v", ce)
	}
}
