package crawl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// BrowserConfig configures the browser fallback of the builtin backend: a
// page whose static extraction finds fewer than MinWords words is loaded
// again in headless Chromium and its rendered DOM extracted instead.
type BrowserConfig struct {
	// Enabled turns the fallback on. Chromium starts on the first page
	// that needs it, never before.
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// MinWords is the static word count under which a page is rendered.
	MinWords int `mapstructure:"min_words" yaml:"min_words"`
	// Tabs is how many pages render at once (one Chromium process, shared
	// by every enrich worker).
	Tabs int `mapstructure:"tabs" yaml:"tabs"`
	// PageTimeout bounds one page's rendering: load, settle and snapshot.
	PageTimeout time.Duration `mapstructure:"page_timeout" yaml:"page_timeout"`
	// Settle is how long scripts may keep building the page after the
	// load event before the DOM is taken.
	Settle time.Duration `mapstructure:"settle" yaml:"settle"`
	// MaxBytes caps the bytes one page may receive, all its requests
	// together; past it every further request fails and what was rendered
	// so far is taken.
	MaxBytes int64 `mapstructure:"max_bytes" yaml:"max_bytes"`
	// MaxRequests caps the requests one page may make (redirect hops
	// included); past it every further request fails.
	MaxRequests int `mapstructure:"max_requests" yaml:"max_requests"`
	// Chromium is the browser's executable; empty looks up chromium,
	// chromium-browser, google-chrome and headless-shell on PATH.
	Chromium string `mapstructure:"chromium" yaml:"chromium"`
}

// DefaultBrowserConfig returns the browser fallback's defaults (off).
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{
		Enabled:     false,
		MinWords:    50,
		Tabs:        2,
		PageTimeout: 15 * time.Second,
		Settle:      500 * time.Millisecond,
		MaxBytes:    20 << 20,
		MaxRequests: 150,
	}
}

// browserPool is one headless Chromium, started on first use, whose Tabs
// slots are shared by every caller. Each page gets a fresh tab (target),
// closed when the page is done, so no state passes from one page to the
// next; the slots bound how many are open at once.
type browserPool struct {
	cfg   BrowserConfig
	log   *slog.Logger
	slots chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	browser context.Context // the browser's chromedp context, once started
	stop    func()          // ends the browser and removes its profile
	proxy   *guardedProxy   // every connection of the browser goes through it
	starts  atomic.Int64    // how many times Chromium was started (tests)
	// shared, when set, is the pool whose Chromium and slots this one
	// uses with its own budgets (tests share one browser); closing this
	// pool leaves it running.
	shared *browserPool
}

func newBrowserPool(cfg BrowserConfig, log *slog.Logger) *browserPool {
	return &browserPool{cfg: cfg, log: log, slots: make(chan struct{}, cfg.Tabs)}
}

// errBrowserClosed is returned by render after Close.
var errBrowserClosed = errors.New("browser pool is closed")

// chromiumPath finds the browser's executable.
func chromiumPath(configured string) (string, error) {
	if configured != "" {
		return exec.LookPath(configured)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (install Debian's chromium or set stages.enrich.crawl.browser.chromium)")
}

// ensure starts Chromium when it is not running yet and returns its
// context. A failed start is not remembered: the next page tries again.
func (p *browserPool) ensure() (context.Context, error) {
	if p.shared != nil {
		return p.shared.ensure()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errBrowserClosed
	}
	if p.started {
		return p.browser, nil
	}
	path, err := chromiumPath(p.cfg.Chromium)
	if err != nil {
		return nil, err
	}
	proxy, err := startGuardedProxy()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "assistant-chromium-")
	if err != nil {
		proxy.Close()
		return nil, fmt.Errorf("browser profile: %w", err)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("mute-audio", true),
		// Every connection goes through the guarded proxy; "<-loopback>"
		// removes Chromium's implicit bypass of loopback addresses.
		chromedp.ProxyServer(proxy.URL()), chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	bctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Run(bctx); err != nil {
		cancelB()
		cancelA()
		proxy.Close()
		_ = os.RemoveAll(profile)
		return nil, fmt.Errorf("start chromium %s: %w", path, err)
	}
	p.browser, p.started, p.proxy = bctx, true, proxy
	p.stop = func() {
		cancelB()
		cancelA() // waits for the process to exit
		proxy.Close()
		_ = os.RemoveAll(profile)
	}
	p.starts.Add(1)
	p.log.Info("crawl: started headless chromium for javascript pages", "path", path, "tabs", p.cfg.Tabs)
	return bctx, nil
}

// setGuard makes the proxy dial with g. Every render stores its
// Builtin's guard: one Builtin owns a pool, so it is always the same
// guard (tests that share one Chromium between Builtins run one at a
// time).
func (p *browserPool) setGuard(g *guard) {
	if p.shared != nil {
		p.shared.setGuard(g)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proxy != nil {
		p.proxy.g.Store(g)
	}
}

// Close ends the browser (when it was started). Pages rendering now fail.
func (p *browserPool) Close() {
	if p.shared != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.started {
		p.stop()
	}
}

// rendered is what a browser made of a page.
type rendered struct {
	HTML     string
	FinalURL string
	Requests int   // requests the page made (refused ones included)
	Refused  int   // requests the guard refused
	Bytes    int64 // bytes received
	// Exhausted names the budget that ran out ("" when none did).
	Exhausted string
}

// pageBudget counts one page's requests and bytes against its limits.
type pageBudget struct {
	maxReq   int
	maxBytes int64
	requests atomic.Int64
	refused  atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	spent    string // the budget that ran out first
	// mainRefused is the guard's reason for refusing the page itself.
	mainRefused error
}

func (b *pageBudget) exhaust(what string) {
	b.mu.Lock()
	if b.spent == "" {
		b.spent = what
	}
	b.mu.Unlock()
}

func (b *pageBudget) exhausted() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// render loads pageURL in a tab, lets it settle, and returns the outer
// HTML of its document. Every request the page makes — the document,
// each redirect hop, every subresource, fetch and XHR — is paused by the
// CDP Fetch domain and continued only when the guard allows every address
// its host resolves to; websockets are blocked outright and service
// workers bypassed. Beneath that, the browser reaches the network only
// through the pool's guarded proxy, which dials with g. When a budget runs out further requests fail and the
// DOM rendered so far is returned with Exhausted set.
func (p *browserPool) render(ctx context.Context, pageURL string, g *guard) (rendered, error) {
	bctx, err := p.ensure()
	if err != nil {
		return rendered{}, err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return rendered{}, ctx.Err()
	}
	defer func() { <-p.slots }()

	budget := &pageBudget{maxReq: p.cfg.MaxRequests, maxBytes: p.cfg.MaxBytes}
	p.setGuard(g)
	tctx, closeTab := chromedp.NewContext(bctx)
	defer closeTab()
	// The tab's own lifetime must not be a timeout: chromedp closes the
	// target when the context of its first Run ends. The page's deadline
	// goes on the actions instead.
	stopWatch := context.AfterFunc(ctx, closeTab)
	defer stopWatch()

	var mainID atomic.Value // fetch.RequestID of the first document request
	chromedp.ListenTarget(tctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventDataReceived:
			n := ev.EncodedDataLength
			if n == 0 {
				n = ev.DataLength
			}
			if budget.bytes.Add(n) > budget.maxBytes {
				budget.exhaust(fmt.Sprintf("max_bytes %d", budget.maxBytes))
			}
		case *fetch.EventRequestPaused:
			first := mainID.CompareAndSwap(nil, ev.RequestID)
			go p.decide(tctx, g, budget, ev, first)
		}
	})
	if err := chromedp.Run(tctx,
		network.Enable(),
		network.SetBypassServiceWorker(true),
		network.SetBlockedURLs([]string{"ws://*", "wss://*"}),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*", RequestStage: fetch.RequestStageRequest}}),
	); err != nil {
		return rendered{}, fmt.Errorf("open tab: %w", err)
	}

	deadline := time.Now().Add(p.cfg.PageTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	lctx, cancel := context.WithDeadline(tctx, deadline)
	navErr := chromedp.Run(lctx, chromedp.Navigate(pageURL))
	if navErr == nil {
		navErr = chromedp.Run(lctx, chromedp.Sleep(p.cfg.Settle))
	}
	cancel()
	budget.mu.Lock()
	mainRefused := budget.mainRefused
	budget.mu.Unlock()
	if mainRefused != nil {
		return rendered{}, fmt.Errorf("%w (in the browser)", mainRefused)
	}
	timedOut := navErr != nil && errors.Is(lctx.Err(), context.DeadlineExceeded)
	if navErr != nil && !timedOut {
		if ctx.Err() != nil {
			return rendered{}, ctx.Err()
		}
		return rendered{}, fmt.Errorf("load %s: %w", pageURL, navErr)
	}
	if timedOut {
		budget.exhaust(fmt.Sprintf("page_timeout %s", p.cfg.PageTimeout))
	}
	// Take what was rendered, even when the time ran out: stop the page
	// first so it does not keep loading while we read it.
	out := rendered{}
	sctx, cancelSnap := context.WithTimeout(tctx, 5*time.Second)
	defer cancelSnap()
	err = chromedp.Run(sctx,
		page.StopLoading(),
		chromedp.Location(&out.FinalURL),
		chromedp.OuterHTML("html", &out.HTML, chromedp.ByQuery),
	)
	out.Requests = int(budget.requests.Load())
	out.Refused = int(budget.refused.Load())
	out.Bytes = budget.bytes.Load()
	out.Exhausted = budget.exhausted()
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, fmt.Errorf("read the rendered page %s (%s): %w", pageURL, out.Exhausted, err)
	}
	return out, nil
}

// decide continues or fails one paused request.
func (p *browserPool) decide(tctx context.Context, g *guard, b *pageBudget, ev *fetch.EventRequestPaused, main bool) {
	ectx := cdp.WithExecutor(tctx, chromedp.FromContext(tctx).Target)
	refuse := func(reason network.ErrorReason) {
		_ = fetch.FailRequest(ev.RequestID, reason).Do(ectx)
	}
	n := b.requests.Add(1)
	if b.exhausted() != "" {
		refuse(network.ErrorReasonBlockedByClient)
		return
	}
	if int(n) > b.maxReq {
		b.exhaust(fmt.Sprintf("max_requests %d", b.maxReq))
		refuse(network.ErrorReasonBlockedByClient)
		return
	}
	cctx, cancel := context.WithTimeout(tctx, 5*time.Second)
	err := g.checkURL(cctx, ev.Request.URL)
	cancel()
	if err != nil {
		b.refused.Add(1)
		if main {
			b.mu.Lock()
			b.mainRefused = err
			b.mu.Unlock()
		}
		p.log.Debug("crawl: browser request refused", "url", ev.Request.URL, "err", err)
		refuse(network.ErrorReasonAddressUnreachable)
		return
	}
	_ = fetch.ContinueRequest(ev.RequestID).Do(ectx)
}

// checkURL reports why the browser must not request raw: a scheme other
// than http(s), or a host any of whose addresses the guard refuses. Unlike
// dial, one refused address refuses the URL, since the browser, not we,
// picks the address it connects to.
func (g *guard) checkURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: unparsable URL", errSSRF)
	}
	var port uint16
	switch u.Scheme {
	case "http":
		port = 80
	case "https":
		port = 443
	case "data", "blob":
		return nil // no network
	default:
		return fmt.Errorf("%w: scheme %s", errSSRF, u.Scheme)
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			return fmt.Errorf("%w: bad port %q", errSSRF, ps)
		}
		port = uint16(n)
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = g.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("%w: resolve %s: %v", errSSRF, host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%w: %s has no address", errSSRF, host)
	}
	for _, a := range addrs {
		if err := g.check(netip.AddrPortFrom(a.Unmap(), port)); err != nil {
			return err
		}
	}
	return nil
}
