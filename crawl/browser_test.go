package crawl

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// One Chromium serves every browser test of the package: starting it is
// the slow part, so it starts once, on the first test that needs it, and
// TestMain ends it.
var sharedBrowser struct {
	once sync.Once
	pool *browserPool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBrowser.pool != nil {
		sharedBrowser.pool.Close()
	}
	os.Exit(code)
}

// testBrowserConfig is the fallback's configuration for tests: on, short
// settle, small budgets a test can exhaust quickly.
func testBrowserConfig() BrowserConfig {
	c := DefaultBrowserConfig()
	c.Enabled = true
	c.Settle = 200 * time.Millisecond
	c.PageTimeout = 10 * time.Second
	return c
}

// browserCrawler builds a Builtin with the browser fallback on, sharing
// the package's Chromium, whose guard exempts exactly the given sites. It
// skips the test when chromium is not installed (.ci/run installs it).
func browserCrawler(t *testing.T, bc BrowserConfig, sites ...*site) *Builtin {
	t.Helper()
	if _, err := chromiumPath(""); err != nil {
		t.Skipf("browser backend untested: %v (apt-get install -y chromium; .ci/run installs it)", err)
	}
	sharedBrowser.once.Do(func() {
		pc := testBrowserConfig()
		pc.Tabs = 2
		sharedBrowser.pool = newBrowserPool(pc, slog.Default())
	})
	// The shared pool renders with the budgets of the config it was built
	// with; a test with other budgets gets its own view of the same
	// Chromium.
	pool := &browserPool{cfg: bc, log: slog.Default(), slots: sharedBrowser.pool.slots, shared: sharedBrowser.pool}
	cfg := testConfig()
	cfg.Browser = bc
	var exempt = make([]Option, 0, 2)
	for _, s := range sites {
		exempt = append(exempt, WithExemptAddrs(s.addr()))
	}
	b, err := NewBuiltin(cfg, append(exempt, withBrowserPool(pool))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// jsPage is a page whose static HTML holds no text: its script builds
// the article, partly from a JSON subresource.
func jsPage(extra string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>Rendered by script</title></head>
<body><div id="app"></div><script>
const words = "The river town rebuilt its wooden bridge after the spring flood carried the old one away and the neighbours worked through the summer evenings to finish it";
const app = document.getElementById("app");
const art = document.createElement("article");
const h = document.createElement("h1"); h.textContent = "Bridge rebuilt"; art.appendChild(h);
for (let i = 0; i < 4; i++) { const p = document.createElement("p"); p.textContent = "Paragraph " + i + ". " + words + "."; art.appendChild(p); }
app.appendChild(art);
fetch("/data.json").then(r => r.json()).then(d => { const p = document.createElement("p"); p.textContent = d.text; art.appendChild(p); });
` + extra + `
</script></body></html>`
}

func serveJS(extra string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/data.json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"text":"Loaded from the JSON endpoint: the mayor thanked every volunteer by name."}`)
		case "/static":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<html><head><title>Static</title></head><body><article><h1>Static</h1><p>%s</p><p>%s</p></article></body></html>",
				strings.Repeat("A plain server-rendered sentence with enough words in it. ", 12),
				strings.Repeat("Another paragraph follows with more words to read here. ", 12))
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, jsPage(extra))
		}
	}
}

func TestBrowserRendersJavaScriptPage(t *testing.T) {
	s := newSite(t, serveJS(""))
	b := browserCrawler(t, testBrowserConfig(), s)
	res, err := b.Crawl(context.Background(), s.URL+"/article")
	if err != nil {
		t.Fatalf("crawl: %v", err)
	}
	if res.Backend != BackendBrowser {
		t.Errorf("backend = %q, want %q", res.Backend, BackendBrowser)
	}
	if res.WordCount < 100 {
		t.Errorf("word count = %d, want ≥ 100 (the script's text); markdown:\n%s", res.WordCount, res.Markdown)
	}
	for _, want := range []string{"Paragraph 3. The river town", "the mayor thanked every volunteer"} {
		if !strings.Contains(res.Markdown, want) {
			t.Errorf("markdown lacks %q:\n%s", want, res.Markdown)
		}
	}
	if res.Title != "Rendered by script" && res.Title != "Bridge rebuilt" {
		t.Errorf("title = %q", res.Title)
	}
	if res.Status != 200 || res.FinalURL != s.URL+"/article" {
		t.Errorf("status %d, final URL %q", res.Status, res.FinalURL)
	}
}

// A page with enough static text never starts Chromium.
func TestBrowserNotStartedForStaticPages(t *testing.T) {
	s := newSite(t, serveJS(""))
	cfg := testConfig()
	cfg.Browser = testBrowserConfig()
	cfg.Browser.Chromium = "/nonexistent/chromium" // a start would fail loudly
	b := newCrawler(t, cfg, s)
	res, err := b.Crawl(context.Background(), s.URL+"/static")
	if err != nil {
		t.Fatalf("crawl: %v", err)
	}
	if res.Backend != BackendBuiltin || res.WordCount < cfg.Browser.MinWords {
		t.Errorf("backend %q, %d words", res.Backend, res.WordCount)
	}
	if n := b.browser.starts.Load(); n != 0 {
		t.Errorf("chromium started %d times for a static page", n)
	}
	// The JavaScript page needs the browser, which cannot start: the
	// empty page is a clear transient failure, not an empty success.
	res, err = b.Crawl(context.Background(), s.URL+"/article")
	if err == nil || KindOf(err) != KindBackend || !IsTransient(err) || res.OK() {
		t.Fatalf("JS page without a browser: err %v (kind %q), result ok %v", err, KindOf(err), res.OK())
	}
}

// Every request the page makes passes the SSRF guard: subresources,
// scripts, frames, fetches and redirects to a second local server (not
// exempt) or to the cloud metadata address are refused before any
// connection is made.
func TestBrowserGuardsEveryRequest(t *testing.T) {
	victim := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secret")
	}))
	v := victim.URL
	attack := fmt.Sprintf(`
const img = new Image(); img.src = "%[1]s/pixel.png"; document.body.appendChild(img);
const s = document.createElement("script"); s.src = "%[1]s/evil.js"; document.head.appendChild(s);
const f = document.createElement("iframe"); f.src = "%[1]s/frame"; document.body.appendChild(f);
fetch("%[1]s/api").catch(() => {});
fetch("http://169.254.169.254/latest/meta-data/").catch(() => {});
fetch("/hop").catch(() => {});
try { new WebSocket("%[2]s/ws"); } catch (e) {}
navigator.sendBeacon && navigator.sendBeacon("%[1]s/beacon", "x");
`, v, strings.Replace(v, "http://", "ws://", 1))
	var hop sync.Once
	hopped := make(chan struct{})
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" { // a redirect from the allowed site to the victim
			hop.Do(func() { close(hopped) })
			http.Redirect(w, r, v+"/redirected", http.StatusFound)
			return
		}
		serveJS(attack)(w, r)
	}))
	b := browserCrawler(t, testBrowserConfig(), s)
	res, err := b.Crawl(context.Background(), s.URL+"/article")
	if err != nil {
		t.Fatalf("crawl: %v", err)
	}
	if res.Backend != BackendBrowser || !strings.Contains(res.Markdown, "Paragraph 0") {
		t.Errorf("backend %q, markdown:\n%s", res.Backend, res.Markdown)
	}
	select {
	case <-hopped:
	case <-time.After(5 * time.Second):
		t.Error("the page never requested /hop")
	}
	if n := victim.conns.Load(); n != 0 {
		t.Errorf("the victim server accepted %d connections (requests %d), want 0", n, victim.requests.Load())
	}

	// The render itself reports the refusals.
	out, err := b.browser.render(context.Background(), s.URL+"/article", b.guard)
	if err != nil {
		t.Fatal(err)
	}
	if out.Refused < 5 {
		t.Errorf("refused %d requests of %d, want ≥ 5 (image, script, frame, two fetches, the redirect hop)", out.Refused, out.Requests)
	}
	if n := victim.conns.Load(); n != 0 {
		t.Errorf("the victim server accepted %d connections, want 0", n)
	}
}

// The page itself at a refused address fails as ssrf_refused.
func TestBrowserRefusesPageAddress(t *testing.T) {
	s := newSite(t, serveJS(""))
	victim := newSite(t, serveJS(""))
	b := browserCrawler(t, testBrowserConfig(), s)
	_, err := b.browser.render(context.Background(), victim.URL+"/article", b.guard)
	if err == nil || !strings.Contains(err.Error(), errSSRF.Error()) {
		t.Fatalf("render of a refused address: %v", err)
	}
	if n := victim.conns.Load(); n != 0 {
		t.Errorf("victim accepted %d connections", n)
	}
}

// Budgets end a page cleanly with what it rendered: one that keeps
// requesting, one that downloads too much, one that never finishes
// loading.
func TestBrowserBudgets(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	big := strings.Repeat("x", 2<<20)
	s := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ping":
			fmt.Fprint(w, "pong")
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, big)
		case "/hang":
			select { // never answers while the test runs
			case <-r.Context().Done():
			case <-release:
			}
		case "/chatty":
			serveJS(`let i = 0; setInterval(() => fetch("/ping?" + (i++)).catch(() => {}), 2);`)(w, r)
		case "/heavy":
			serveJS(`fetch("/big").then(r => r.text()).catch(() => {});`)(w, r)
		case "/slow":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			// The script builds the text, then an image that never
			// arrives holds the load event back forever.
			fmt.Fprint(w, strings.Replace(jsPage(""), "</body>", `<img src="/hang"></body>`, 1))
		default:
			serveJS("")(w, r)
		}
	}))
	tests := []struct {
		name, path string
		adjust     func(*BrowserConfig)
		spent      string
	}{
		{"requests", "/chatty", func(c *BrowserConfig) { c.MaxRequests = 10; c.Settle = time.Second }, "max_requests 10"},
		{"bytes", "/heavy", func(c *BrowserConfig) { c.MaxBytes = 256 << 10; c.Settle = time.Second }, "max_bytes"},
		{"time", "/slow", func(c *BrowserConfig) { c.PageTimeout = 2 * time.Second }, "page_timeout 2s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bc := testBrowserConfig()
			tc.adjust(&bc)
			b := browserCrawler(t, bc, s)
			start := time.Now()
			out, err := b.browser.render(context.Background(), s.URL+tc.path, b.guard)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if !strings.HasPrefix(out.Exhausted, tc.spent) {
				t.Errorf("exhausted %q, want %q (requests %d, bytes %d)", out.Exhausted, tc.spent, out.Requests, out.Bytes)
			}
			if !strings.Contains(out.HTML, "Paragraph 3. The river town") {
				t.Errorf("rendered HTML lacks the script's text: %.300s", out.HTML)
			}
			if el := time.Since(start); el > bc.PageTimeout+10*time.Second {
				t.Errorf("render took %s", el)
			}
			// The crawl stores what was rendered.
			res, err := b.Crawl(context.Background(), s.URL+tc.path)
			if err != nil || res.Backend != BackendBrowser || res.WordCount < 100 {
				t.Errorf("crawl: err %v, backend %q, %d words", err, res.Backend, res.WordCount)
			}
		})
	}
}

func TestBrowserConfigCheck(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(*BrowserConfig)
		bad    string
	}{
		{"defaults on", func(*BrowserConfig) {}, ""},
		{"tabs", func(c *BrowserConfig) { c.Tabs = 0 }, "browser.tabs"},
		{"min words", func(c *BrowserConfig) { c.MinWords = 0 }, "browser.min_words"},
		{"timeout", func(c *BrowserConfig) { c.PageTimeout = 0 }, "browser.page_timeout"},
		{"bytes", func(c *BrowserConfig) { c.MaxBytes = -1 }, "browser.max_bytes"},
		{"requests", func(c *BrowserConfig) { c.MaxRequests = 0 }, "browser.max_requests"},
		{"settle", func(c *BrowserConfig) { c.Settle = -time.Second }, "browser.settle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Browser.Enabled = true
			tc.adjust(&cfg.Browser)
			err := cfg.Validate()
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("err = %v, want a problem with %s", err, tc.bad)
			}
			cfg.Browser.Enabled = false // off: its keys are not checked
			if err := cfg.Validate(); err != nil {
				t.Fatalf("disabled browser: %v", err)
			}
		})
	}
}
