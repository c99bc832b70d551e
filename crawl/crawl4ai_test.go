package crawl_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/crawltest"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// pageServer serves two saved pages, a 404, a 502 and a PDF.
func pageServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/ru-news-utf8.html", "/ru-science-cp1251.html":
			b, err := os.ReadFile("testdata/pages" + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(b)
		case "/doc.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = w.Write([]byte("%PDF-1.7"))
		case "/down":
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func builtinFor(t *testing.T, srv *httptest.Server) *crawl.Builtin {
	t.Helper()
	cfg := crawl.DefaultConfig()
	cfg.PerHostDelay = 0
	b, err := crawl.NewBuiltin(cfg, crawl.WithExemptAddrs(netip.MustParseAddrPort(srv.Listener.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestCrawl4AIBackend runs the crawl4ai backend against the fake crawl4ai
// server (crawltest.Crawl4AI, which renders with the builtin backend) and
// checks that results and failures map to what the builtin backend gives.
func TestCrawl4AIBackend(t *testing.T) {
	t.Parallel()
	pages := pageServer(t)
	builtin := builtinFor(t, pages)
	fake := crawltest.NewCrawl4AI(t, "s3cret", builtin)

	cfg := crawl.DefaultConfig()
	cfg.Backend = crawl.BackendCrawl4AI
	cfg.Crawl4AI.URL = fake.URL
	cfg.Crawl4AI.Token = "s3cret"
	c4, err := crawl.NewCrawl4AI(cfg, crawl.WithExemptAddrs(netip.MustParseAddrPort(pages.Listener.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, p := range []string{"/ru-news-utf8.html", "/ru-science-cp1251.html"} {
		want, err := builtin.Crawl(ctx, pages.URL+p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c4.Crawl(ctx, pages.URL+p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got.Title != want.Title || got.Markdown != want.Markdown || got.ContentSHA256 != want.ContentSHA256 ||
			got.WordCount != want.WordCount || got.Language != want.Language || got.Status != 200 ||
			got.FinalURL != want.FinalURL || !got.PublishedAt.Equal(want.PublishedAt) || got.SiteName != want.SiteName {
			t.Errorf("%s: crawl4ai result differs from builtin:\n got %+v\nwant %+v", p, got, want)
		}
		if got.Backend != crawl.BackendCrawl4AI {
			t.Errorf("backend %q", got.Backend)
		}
	}
	req := fake.LastRequest()
	if cc, _ := req["crawler_config"].(map[string]any); cc["type"] != "CrawlerRunConfig" {
		t.Errorf("request crawler_config %v", req["crawler_config"])
	}

	for _, tt := range []struct {
		path, kind string
		transient  bool
	}{
		{"/missing", crawl.KindHTTPStatus, false},
		{"/down", crawl.KindBackend, true},
	} {
		_, err := c4.Crawl(ctx, pages.URL+tt.path)
		var ce *crawl.Error
		if !errors.As(err, &ce) || ce.Kind != tt.kind || ce.Transient != tt.transient {
			t.Errorf("%s: %v, want kind %s transient %v", tt.path, err, tt.kind, tt.transient)
		}
	}
	// A URL to an internal address never reaches crawl4ai.
	before := fake.Requests.Load()
	if _, err := c4.Crawl(ctx, "http://169.254.169.254/latest/meta-data/"); crawl.KindOf(err) != crawl.KindSSRF {
		t.Errorf("metadata URL: %v, want %s", err, crawl.KindSSRF)
	}
	if fake.Requests.Load() != before {
		t.Error("an internal URL was sent to crawl4ai")
	}
	// A wrong token is the operator's problem: transient, never stored.
	bad := cfg
	bad.Crawl4AI.Token = "wrong"
	c4bad, _ := crawl.NewCrawl4AI(bad, crawl.WithExemptAddrs(netip.MustParseAddrPort(pages.Listener.Addr().String())))
	if _, err := c4bad.Crawl(ctx, pages.URL+"/ru-news-utf8.html"); crawl.KindOf(err) != crawl.KindBackend || !crawl.IsTransient(err) {
		t.Errorf("wrong token: %v", err)
	}
}

// countingCrawler counts the crawls that reach it.
type countingCrawler struct {
	next crawl.Crawler
	n    int
}

func (c *countingCrawler) Crawl(ctx context.Context, u string) (crawl.Result, error) {
	c.n++
	return c.next.Crawl(ctx, u)
}

// TestCache checks the Redis cache (real Redis): one crawl per normalised
// URL, permanent failures cached with their own TTL, transient ones not.
func TestCache(t *testing.T) {
	t.Parallel()
	pages := pageServer(t)
	rdb, prefix := testenv.Redis(t)
	inner := &countingCrawler{next: builtinFor(t, pages)}
	c := crawl.NewCache(inner, rdb, prefix, 7*24*time.Hour, time.Hour, nil)
	ctx := context.Background()

	first, err := c.Crawl(ctx, pages.URL+"/ru-news-utf8.html")
	if err != nil || first.Cached {
		t.Fatalf("first crawl: %v cached=%v", err, first.Cached)
	}
	// Another spelling of the same URL is a hit.
	second, err := c.Crawl(ctx, pages.URL+"/ru-news-utf8.html?utm_source=telegram#comments")
	if err != nil || !second.Cached || second.Markdown != first.Markdown || second.Title != first.Title {
		t.Fatalf("second crawl: %v cached=%v", err, second.Cached)
	}
	if inner.n != 1 {
		t.Errorf("backend called %d times, want 1", inner.n)
	}
	ttl := rdb.TTL(ctx, c.Key(pages.URL+"/ru-news-utf8.html")).Val()
	if ttl < 7*24*time.Hour-time.Minute || ttl > 7*24*time.Hour {
		t.Errorf("TTL %v, want 7 days", ttl)
	}

	// A PDF (permanent) is cached as a failure, for an hour.
	for range 2 {
		_, err := c.Crawl(ctx, pages.URL+"/doc.pdf")
		if crawl.KindOf(err) != crawl.KindUnsupportedType || crawl.IsTransient(err) {
			t.Errorf("pdf: %v", err)
		}
	}
	if inner.n != 2 {
		t.Errorf("backend called %d times after the PDF twice, want 2", inner.n)
	}
	if ttl := rdb.TTL(ctx, c.Key(pages.URL+"/doc.pdf")).Val(); ttl > time.Hour || ttl < time.Hour-time.Minute {
		t.Errorf("failure TTL %v, want 1h", ttl)
	}
	// A 502 (transient) is never cached.
	for range 2 {
		if _, err := c.Crawl(ctx, pages.URL+"/down"); !crawl.IsTransient(err) {
			t.Errorf("502: %v", err)
		}
	}
	if inner.n != 4 {
		t.Errorf("backend called %d times after two 502s, want 4", inner.n)
	}
	if n := rdb.Exists(ctx, c.Key(pages.URL+"/down")).Val(); n != 0 {
		t.Error("a transient failure was cached")
	}
}
