package crawl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Builtin is the pure-Go backend: a guarded net/http fetch, readability
// extraction and HTML-to-Markdown conversion. It is safe for concurrent use.
type Builtin struct {
	cfg       Config
	transport *http.Transport
	client    *http.Client
	hosts     *hostLimiter
	global    chan struct{}
	robots    *robotsCache
	extractor *extractor
	guard     *guard
	// browser renders pages whose static text is under
	// cfg.Browser.MinWords words; nil when the fallback is off.
	browser *browserPool
	// ownBrowser is false when the pool was handed in (tests share one).
	ownBrowser bool
	log        *slog.Logger
}

var _ Crawler = (*Builtin)(nil)

// Option adjusts a Builtin beyond its Config.
type Option func(*options)

type options struct {
	resolver Resolver
	exempt   []netip.AddrPort
	logger   *slog.Logger
	browser  *browserPool
}

// WithResolver resolves host names with r instead of the system resolver
// (tests map made-up names to chosen addresses; the guard still checks the
// address each name resolves to).
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithExemptAddrs lets the guard connect to these exact address:port pairs
// although they are internal. Tests use it to reach their httptest site
// with AllowPrivateAddresses off, so every other internal address — another
// port on loopback included — is still refused.
func WithExemptAddrs(addrs ...netip.AddrPort) Option {
	return func(o *options) { o.exempt = append(o.exempt, addrs...) }
}

// withBrowserPool makes the browser fallback use p, which the caller
// closes (tests share one Chromium across the package).
func withBrowserPool(p *browserPool) Option { return func(o *options) { o.browser = p } }

// WithLogger sets the logger (slog.Default otherwise).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// errTooManyRedirects is returned by CheckRedirect.
var errTooManyRedirects = errors.New("too many redirects")

// prepare validates cfg as the given backend's and applies the options
// (slog.Default when none sets a logger): the start of every constructor.
func prepare(cfg *Config, backend string, opts []Option) (options, error) {
	cfg.Backend = backend
	if err := cfg.Validate(); err != nil {
		return options{}, fmt.Errorf("crawl: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}

// NewBuiltin builds the builtin backend.
func NewBuiltin(cfg Config, opts ...Option) (*Builtin, error) {
	o, err := prepare(&cfg, BackendBuiltin, opts)
	if err != nil {
		return nil, err
	}
	if cfg.AllowPrivateAddresses {
		o.logger.Warn("crawl: allow_private_addresses is ON — the SSRF guard is off and links in posts can reach loopback, private and cloud-metadata addresses; never enable this in production")
	}
	g := newGuard(cfg.AllowPrivateAddresses, o.exempt, o.resolver, cfg.ConnectTimeout)
	tr := &http.Transport{
		// No proxy: the guard must see the address actually dialled, not
		// a proxy's.
		Proxy:                  nil,
		DialContext:            g.dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxIdleConns:           2 * cfg.Concurrency,
		MaxIdleConnsPerHost:    cfg.PerHostConcurrency,
		MaxConnsPerHost:        cfg.PerHostConcurrency + 1, // +1: a robots.txt fetch
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	b := &Builtin{
		cfg:       cfg,
		transport: tr,
		hosts:     newHostLimiter(cfg.PerHostConcurrency, cfg.PerHostDelay),
		global:    make(chan struct{}, cfg.Concurrency),
		extractor: newExtractor(),
		guard:     g,
		log:       o.logger,
	}
	if cfg.Browser.Enabled {
		b.browser, b.ownBrowser = o.browser, false
		if b.browser == nil {
			b.browser, b.ownBrowser = newBrowserPool(cfg.Browser, o.logger), true
		}
	}
	b.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("%w: stopped after %d", errTooManyRedirects, cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return Permanent(KindInvalidURL, "redirect to a %s URL", req.URL.Scheme)
			}
			req.Header.Set("User-Agent", cfg.UserAgent)
			// Every hop obeys the robots.txt of its host. A robots.txt
			// fetch itself is exempt: checking robots while fetching
			// robots could wait on itself.
			if cfg.Robots && req.Context().Value(robotsFetchKey{}) == nil {
				if _, err := b.robots.check(req.Context(), req.URL); err != nil {
					return err
				}
			}
			return nil
		},
	}
	b.robots = newRobotsCache(b.client, cfg.UserAgent, cfg.RobotsTTL)
	return b, nil
}

// Close drops idle connections and ends the browser, when one started.
func (b *Builtin) Close() error {
	b.transport.CloseIdleConnections()
	if b.browser != nil && b.ownBrowser {
		b.browser.Close()
	}
	return nil
}

// Crawl fetches raw and extracts its content.
func (b *Builtin) Crawl(ctx context.Context, raw string) (Result, error) {
	res := Result{URL: raw, Backend: BackendBuiltin}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(res, Permanent(KindInvalidURL, "%q is not an http(s) URL", raw))
	}

	body, final, ctype, status, err := b.fetch(ctx, u)
	res.Status, res.ContentType, res.Bytes = status, ctype, int64(len(body))
	if final != nil {
		res.FinalURL = final.String()
	}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = classifyFetchError(ctx, err)
		}
		return fail(res, ce)
	}
	if err := b.extractor.extract(&res, body, ctype, final); err != nil {
		return fail(res, Permanent(KindExtract, "%v", err))
	}
	if b.browser != nil && res.WordCount < b.cfg.Browser.MinWords && mediaType(ctype) != "text/plain" {
		return b.renderInBrowser(ctx, res)
	}
	return res, nil
}

// renderInBrowser loads a page whose static HTML held too little text in
// headless Chromium and extracts the rendered DOM the same way. The
// rendered result replaces the static one when it holds more words. When
// the browser fails, a page with some static text keeps it (logged); an
// empty one fails, so a JavaScript page is never stored as an empty
// success.
func (b *Builtin) renderInBrowser(ctx context.Context, static Result) (Result, error) {
	target := static.FinalURL
	if target == "" {
		target = static.URL
	}
	out, err := b.browser.render(ctx, target, b.guard)
	if err == nil {
		res := Result{URL: static.URL, Status: static.Status, Backend: BackendBrowser, Bytes: out.Bytes}
		final, perr := url.Parse(out.FinalURL)
		if perr != nil || final.Host == "" {
			final, _ = url.Parse(target)
		}
		res.FinalURL = final.String()
		res.ContentType = "text/html; charset=utf-8"
		if xerr := b.extractor.extract(&res, []byte(out.HTML), res.ContentType, final); xerr != nil {
			err = fmt.Errorf("extract the rendered page: %w", xerr)
		} else {
			b.log.Debug("crawl: rendered in the browser", "url", static.URL, "static_words", static.WordCount,
				"rendered_words", res.WordCount, "requests", out.Requests, "refused", out.Refused,
				"bytes", out.Bytes, "budget_spent", out.Exhausted)
			if res.WordCount > static.WordCount {
				return res, nil
			}
			if static.WordCount > 0 {
				return static, nil
			}
			if out.Exhausted != "" {
				return fail(res, Permanent(KindExtract, "no text rendered before the page's budget ran out (%s)", out.Exhausted))
			}
			return res, nil // a page that is empty in a browser too
		}
	}
	if ctx.Err() != nil {
		return fail(static, classifyFetchError(ctx, ctx.Err()))
	}
	var ce *Error
	switch {
	case errors.Is(err, errSSRF):
		ce = &Error{Kind: KindSSRF, Err: err}
	default:
		ce = &Error{Kind: KindBackend, Transient: true, Err: fmt.Errorf("browser: %w", err)}
	}
	if static.WordCount > 0 {
		b.log.Warn("crawl: browser rendering failed; keeping the static text", "url", static.URL,
			"static_words", static.WordCount, "err", err)
		return static, nil
	}
	return fail(static, ce)
}

// fetch does the network part of a crawl under the global and per-host
// limits, which are released as soon as the body is read: extraction is
// CPU work and must not hold a host's slot.
func (b *Builtin) fetch(ctx context.Context, u *url.URL) (body []byte, final *url.URL, ctype string, status int, err error) {
	select {
	case b.global <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, "", 0, classifyFetchError(ctx, ctx.Err())
	}
	defer func() { <-b.global }()

	// robots.txt first, outside the host's slot and delay: its (rare)
	// fetch must not sit between two paced page requests.
	var crawlDelay time.Duration
	if b.cfg.Robots {
		crawlDelay, err = b.robots.check(ctx, u)
		if err != nil {
			return nil, nil, "", 0, err
		}
	}
	host := strings.ToLower(u.Host)
	release, err := b.hosts.acquire(ctx, host)
	if err != nil {
		return nil, nil, "", 0, classifyFetchError(ctx, err)
	}
	defer release()
	if crawlDelay > 0 {
		b.hosts.setDelay(host, crawlDelay)
	}

	// The timeout starts once the slot is ours: waiting for politeness is
	// not the site being slow.
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, "", 0, Permanent(KindInvalidURL, "request: %v", err)
	}
	req.Header.Set("User-Agent", b.cfg.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1")
	req.Header.Set("Accept-Language", "ru,en;q=0.8,*;q=0.5")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, nil, "", 0, classifyFetchError(ctx, err)
	}
	defer resp.Body.Close()
	final = resp.Request.URL
	status = resp.StatusCode
	ctype = resp.Header.Get("Content-Type")
	if status < 200 || status > 299 {
		// Drain a little so the connection can be reused; never much.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, final, ctype, status, statusError(status, retryAfter(resp.Header.Get("Retry-After")))
	}

	// Read the body as a stream, never more than the cap (+1 byte to know
	// that it was exceeded).
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= b.cfg.MaxBodyBytes {
		buf.Grow(int(resp.ContentLength))
	}
	var head []byte
	if ctype == "" {
		// No declared type: sniff it from the first bytes, as browsers do.
		head = make([]byte, 512)
		n, _ := io.ReadFull(resp.Body, head)
		head = head[:n]
		ctype = http.DetectContentType(head)
		buf.Write(head)
	}
	if !supportedType(ctype) {
		return nil, final, ctype, status, Permanent(KindUnsupportedType, "content type %q is not HTML or text", mediaType(ctype))
	}
	if resp.ContentLength > b.cfg.MaxBodyBytes {
		return nil, final, ctype, status, Permanent(KindTooLarge, "Content-Length %d exceeds %d bytes", resp.ContentLength, b.cfg.MaxBodyBytes)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, b.cfg.MaxBodyBytes+1-int64(len(head))))
	if err != nil {
		return buf.Bytes(), final, ctype, status, classifyFetchError(ctx, err)
	}
	if n+int64(len(head)) > b.cfg.MaxBodyBytes {
		return nil, final, ctype, status, Permanent(KindTooLarge, "body exceeds %d bytes", b.cfg.MaxBodyBytes)
	}
	return buf.Bytes(), final, ctype, status, nil
}

// mediaType returns the lower-case media type of a Content-Type value.
func mediaType(ctype string) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt, _, _ = strings.Cut(ctype, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt
}

// supportedType reports whether a page of this Content-Type is crawled:
// HTML and plain text only.
func supportedType(ctype string) bool {
	switch mediaType(ctype) {
	case "text/html", "application/xhtml+xml", "text/plain":
		return true
	}
	return false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when
// absent or unparsable. It is capped at an hour.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), time.Hour)
}

// classifyFetchError turns a network-level failure into an *Error.
func classifyFetchError(ctx context.Context, err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errSSRF):
		return &Error{Kind: KindSSRF, Err: err}
	case errors.Is(err, errTooManyRedirects):
		return &Error{Kind: KindRedirects, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return &Error{Kind: KindTimeout, Transient: true, Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindNetwork, Transient: true, Err: err}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &Error{Kind: KindNoHost, Err: err}
	default:
		return &Error{Kind: KindNetwork, Transient: true, Err: err}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
