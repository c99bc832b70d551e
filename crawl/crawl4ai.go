package crawl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/itlightning/dateparse"
)

// Crawl4AI is the backend that asks a crawl4ai server (its Docker image's
// HTTP API, POST /crawl) to crawl a page with a real browser. The server
// does its own fetching, so the SSRF guard cannot watch its connections;
// what this client can do, it does: it refuses URLs whose host is an
// internal address or resolves to one before sending them (a name that
// re-resolves differently inside the server is out of its reach — run
// crawl4ai in a network without access to internal services).
type Crawl4AI struct {
	cfg      Config
	endpoint string
	client   *http.Client
	guard    *guard
	global   chan struct{}
	log      *slog.Logger
}

var _ Crawler = (*Crawl4AI)(nil)

// NewCrawl4AI builds the crawl4ai backend. Options WithResolver,
// WithExemptAddrs and WithLogger apply to its pre-check of URLs.
func NewCrawl4AI(cfg Config, opts ...Option) (*Crawl4AI, error) {
	o, err := prepare(&cfg, BackendCrawl4AI, opts)
	if err != nil {
		return nil, err
	}
	if cfg.AllowPrivateAddresses {
		o.logger.Warn("crawl: allow_private_addresses is ON — URLs to loopback, private and cloud-metadata addresses are sent to crawl4ai; never enable this in production")
	}
	return &Crawl4AI{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.Crawl4AI.URL, "/") + "/crawl",
		// The server is the operator's own: no guard on this connection.
		client: &http.Client{Timeout: cfg.Crawl4AI.Timeout},
		guard:  newGuard(cfg.AllowPrivateAddresses, o.exempt, o.resolver, cfg.ConnectTimeout),
		global: make(chan struct{}, cfg.Concurrency),
		log:    o.logger,
	}, nil
}

// c4Typed is crawl4ai's serialised config object: {"type": Class, "params": {...}}.
type c4Typed struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
}

type c4Request struct {
	URLs          []string `json:"urls"`
	BrowserConfig c4Typed  `json:"browser_config"`
	CrawlerConfig c4Typed  `json:"crawler_config"`
}

// c4Markdown is MarkdownGenerationResult; old servers send a plain string.
type c4Markdown struct {
	RawMarkdown string `json:"raw_markdown"`
	FitMarkdown string `json:"fit_markdown"`
}

func (m *c4Markdown) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.RawMarkdown)
	}
	type plain c4Markdown
	return json.Unmarshal(b, (*plain)(m))
}

type c4Result struct {
	URL             string            `json:"url"`
	RedirectedURL   string            `json:"redirected_url"`
	Success         bool              `json:"success"`
	StatusCode      int               `json:"status_code"`
	ErrorMessage    string            `json:"error_message"`
	Markdown        *c4Markdown       `json:"markdown"`
	Metadata        map[string]any    `json:"metadata"`
	ResponseHeaders map[string]string `json:"response_headers"`
}

type c4Response struct {
	Success bool       `json:"success"`
	Results []c4Result `json:"results"`
}

// Crawl sends raw to the crawl4ai server and maps its CrawlResult.
func (c *Crawl4AI) Crawl(ctx context.Context, raw string) (Result, error) {
	res := Result{URL: raw, Backend: BackendCrawl4AI}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(res, Permanent(KindInvalidURL, "%q is not an http(s) URL", raw))
	}
	if err := c.precheck(ctx, u); err != nil {
		return fail(res, err)
	}
	select {
	case c.global <- struct{}{}:
	case <-ctx.Done():
		return fail(res, classifyFetchError(ctx, ctx.Err()))
	}
	defer func() { <-c.global }()

	body, err := json.Marshal(c4Request{
		URLs: []string{raw},
		BrowserConfig: c4Typed{Type: "BrowserConfig", Params: map[string]any{
			"headless": true, "user_agent": c.cfg.UserAgent,
		}},
		CrawlerConfig: c4Typed{Type: "CrawlerRunConfig", Params: map[string]any{
			"cache_mode":       "bypass",
			"check_robots_txt": c.cfg.Robots,
			"page_timeout":     c.cfg.Timeout.Milliseconds(),
			"markdown_generator": c4Typed{Type: "DefaultMarkdownGenerator", Params: map[string]any{
				"content_filter": c4Typed{Type: "PruningContentFilter", Params: map[string]any{
					"threshold": 0.48, "threshold_type": "fixed",
				}},
			}},
		}},
	})
	if err != nil {
		return fail(res, Permanent(KindBackendPermanent, "encode request: %v", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fail(res, Permanent(KindBackendPermanent, "request: %v", err))
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.Crawl4AI.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Crawl4AI.Token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		ce := classifyFetchError(ctx, err)
		if ce.Kind != KindTimeout {
			ce = &Error{Kind: KindBackend, Transient: true, Err: fmt.Errorf("crawl4ai unreachable: %w", err)}
		}
		return fail(res, ce)
	}
	defer resp.Body.Close()
	// The response carries the page's HTML several times over; cap it well
	// above the page cap.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4*c.cfg.MaxBodyBytes+1))
	if err != nil {
		return fail(res, &Error{Kind: KindBackend, Transient: true, Err: fmt.Errorf("read crawl4ai response: %w", err)})
	}
	if int64(len(data)) > 4*c.cfg.MaxBodyBytes {
		return fail(res, Permanent(KindTooLarge, "crawl4ai response exceeds %d bytes", 4*c.cfg.MaxBodyBytes))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// A wrong token fails every post alike: transient, so the entries
		// wait for the operator instead of all going to the DLQ as errors.
		return fail(res, &Error{Kind: KindBackend, Transient: true, Status: resp.StatusCode,
			Err: fmt.Errorf("crawl4ai refused the token: HTTP %d", resp.StatusCode)})
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return fail(res, &Error{Kind: KindBackend, Transient: true, Status: resp.StatusCode,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
			Err:        fmt.Errorf("crawl4ai busy: HTTP %d", resp.StatusCode)})
	case resp.StatusCode >= 500:
		// crawl4ai answers 500 when every URL of the request failed; the
		// reason is only in the message.
		return fail(res, classifyC4Message(c4Detail(data)))
	case resp.StatusCode >= 400:
		return fail(res, Permanent(KindBackendPermanent, "crawl4ai rejected the request: HTTP %d: %s", resp.StatusCode, truncateRunes(c4Detail(data), 300)))
	}
	var out c4Response
	if err := json.Unmarshal(data, &out); err != nil {
		return fail(res, &Error{Kind: KindBackend, Transient: true, Err: fmt.Errorf("decode crawl4ai response: %w", err)})
	}
	if len(out.Results) == 0 {
		return fail(res, &Error{Kind: KindBackend, Transient: true, Err: errors.New("crawl4ai returned no result")})
	}
	return c.mapResult(res, out.Results[0])
}

// precheck refuses a URL whose host is, or resolves only to, an address the
// guard refuses.
func (c *Crawl4AI) precheck(ctx context.Context, u *url.URL) *Error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host := u.Hostname()
	var addrs []string
	if net.ParseIP(host) != nil {
		addrs = []string{host}
	} else {
		ips, err := c.guard.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return classifyFetchError(ctx, err)
		}
		for _, ip := range ips {
			addrs = append(addrs, ip.String())
		}
	}
	for _, a := range addrs {
		if err := c.guard.control("tcp", net.JoinHostPort(a, port), nil); err != nil {
			return &Error{Kind: KindSSRF, Err: err}
		}
	}
	return nil
}

// mapResult maps a CrawlResult onto Result, classifying a failed one like
// the builtin backend would.
func (c *Crawl4AI) mapResult(res Result, r c4Result) (Result, error) {
	res.Status = r.StatusCode
	res.FinalURL = firstNonEmpty(r.RedirectedURL, r.URL, res.URL)
	for k, v := range r.ResponseHeaders {
		if strings.EqualFold(k, "content-type") {
			res.ContentType = v
		}
	}
	if !r.Success || r.StatusCode >= 400 {
		if r.StatusCode >= 400 {
			return fail(res, statusError(r.StatusCode, 0))
		}
		return fail(res, classifyC4Message(r.ErrorMessage))
	}
	if res.ContentType != "" && !supportedType(res.ContentType) {
		return fail(res, Permanent(KindUnsupportedType, "content type %q is not HTML or text", mediaType(res.ContentType)))
	}
	md := ""
	if r.Markdown != nil {
		md = firstNonEmpty(r.Markdown.FitMarkdown, r.Markdown.RawMarkdown)
	}
	res.Markdown = strings.TrimSpace(md)
	res.Bytes = int64(len(res.Markdown))
	meta := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := r.Metadata[k].(string); ok && strings.TrimSpace(s) != "" {
				return clean(s)
			}
		}
		return ""
	}
	res.Title = meta("title", "og:title", "twitter:title")
	res.Description = meta("description", "og:description", "twitter:description")
	res.SiteName = meta("og:site_name")
	res.Language = normLang(meta("language", "lang", "og:locale"))
	res.Canonical = meta("canonical", "og:url")
	if p := meta("article:published_time", "published_time", "date"); p != "" {
		if t, err := dateparse.ParseAny(p); err == nil {
			res.PublishedAt = t.UTC()
		}
	}
	text := markdownText(res.Markdown)
	res.WordCount = wordCount(text)
	if res.Language == "" {
		res.Language = guessLanguage(text)
	}
	if res.Description == "" {
		res.Description = leadParagraph(res.Markdown)
	}
	res.ContentSHA256 = sha256Hex(res.Markdown)
	return res, nil
}

// c4Detail extracts the message of a FastAPI error body {"detail": ...},
// whose detail crawl4ai sometimes fills with a JSON string {"error": ...}.
func c4Detail(data []byte) string {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &body) != nil || len(body.Detail) == 0 {
		return strings.TrimSpace(string(data))
	}
	var s string
	if json.Unmarshal(body.Detail, &s) != nil {
		s = string(body.Detail)
	}
	var inner struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(s), &inner) == nil && inner.Error != "" {
		return inner.Error
	}
	return s
}

// classifyC4Message classifies a crawl4ai error message: Playwright's
// net::ERR_* codes and crawl4ai's own wording tell what happened.
func classifyC4Message(msg string) *Error {
	m := strings.ToLower(msg)
	err := errors.New(truncateRunes(strings.TrimSpace(msg), 500))
	switch {
	case strings.Contains(m, "robots.txt"):
		return &Error{Kind: KindRobots, Err: err}
	case strings.Contains(m, "err_name_not_resolved"):
		return &Error{Kind: KindNoHost, Err: err}
	case strings.Contains(m, "timeout") || strings.Contains(m, "timed out") || strings.Contains(m, "err_timed_out"):
		return &Error{Kind: KindTimeout, Transient: true, Err: err}
	case strings.Contains(m, "err_too_many_redirects"):
		return &Error{Kind: KindRedirects, Err: err}
	case strings.Contains(m, "err_connection") || strings.Contains(m, "err_network") || strings.Contains(m, "err_empty_response"):
		return &Error{Kind: KindNetwork, Transient: true, Err: err}
	case strings.Contains(m, "download is starting") || (strings.Contains(m, "err_aborted") && strings.Contains(m, "download")):
		return &Error{Kind: KindUnsupportedType, Err: err}
	}
	for _, code := range []int{400, 401, 403, 404, 410, 451} {
		if strings.Contains(m, fmt.Sprintf("status %d", code)) || strings.Contains(m, fmt.Sprintf("status code %d", code)) {
			return &Error{Kind: KindHTTPStatus, Status: code, Err: err}
		}
	}
	return &Error{Kind: KindBackend, Transient: true, Err: err}
}
