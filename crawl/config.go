package crawl

import (
	"errors"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/config"
)

// Backends selectable by Config.Backend.
const (
	BackendBuiltin  = "builtin"
	BackendCrawl4AI = "crawl4ai"
	// BackendBrowser names results the builtin backend rendered in
	// headless Chromium (its browser fallback); it is not a Config.Backend.
	BackendBrowser = "browser"
)

// Config configures a crawler. Its keys live under stages.enrich.crawl.
type Config struct {
	// Backend is builtin (pure Go, default) or crawl4ai.
	Backend string `mapstructure:"backend" yaml:"backend"`
	// UserAgent is sent with every request; it names the project so site
	// owners can find us and write robots.txt rules for us.
	UserAgent string `mapstructure:"user_agent" yaml:"user_agent"`
	// ConnectTimeout bounds one TCP (and TLS) connection set-up.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout" yaml:"connect_timeout"`
	// Timeout bounds a whole crawl of one URL: redirects, headers and body.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// MaxRedirects is how many redirects are followed at most.
	MaxRedirects int `mapstructure:"max_redirects" yaml:"max_redirects"`
	// MaxBodyBytes caps the body read; a larger page is refused (too_large).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes" yaml:"max_body_bytes"`
	// Concurrency is the most requests in flight at once, all hosts together.
	Concurrency int `mapstructure:"concurrency" yaml:"concurrency"`
	// PerHostConcurrency is the most requests in flight to one host.
	PerHostConcurrency int `mapstructure:"per_host_concurrency" yaml:"per_host_concurrency"`
	// PerHostDelay is the least time between the starts of two requests to
	// one host (a robots.txt Crawl-delay, when larger, wins).
	PerHostDelay time.Duration `mapstructure:"per_host_delay" yaml:"per_host_delay"`
	// Robots honours robots.txt (fetched once per host and cached).
	Robots bool `mapstructure:"robots" yaml:"robots"`
	// RobotsTTL is how long a host's robots.txt is cached in process.
	RobotsTTL time.Duration `mapstructure:"robots_ttl" yaml:"robots_ttl"`
	// AllowPrivateAddresses lets the builtin backend connect to loopback,
	// private, link-local and other internal addresses. Off by default: it
	// turns off the SSRF guard and is logged loudly when on.
	AllowPrivateAddresses bool `mapstructure:"allow_private_addresses" yaml:"allow_private_addresses"`
	// CacheTTL is how long a crawl result is cached in Redis (0 = no cache).
	CacheTTL time.Duration `mapstructure:"cache_ttl" yaml:"cache_ttl"`
	// ErrorCacheTTL is how long a permanent failure (404, PDF, robots) is
	// cached, so a dead link in many posts is not fetched again and again.
	ErrorCacheTTL time.Duration `mapstructure:"error_cache_ttl" yaml:"error_cache_ttl"`
	// Crawl4AI configures the crawl4ai backend.
	Crawl4AI Crawl4AIConfig `mapstructure:"crawl4ai" yaml:"crawl4ai"`
	// Browser configures the builtin backend's fallback to headless
	// Chromium for pages whose static HTML holds too little text.
	Browser BrowserConfig `mapstructure:"browser" yaml:"browser"`
}

// Crawl4AIConfig locates a crawl4ai server (its Docker image's HTTP API).
type Crawl4AIConfig struct {
	URL   string `mapstructure:"url" yaml:"url"`
	Token string `mapstructure:"token" yaml:"token" secret:"true"` // bearer token, optional
	// Timeout bounds one POST /crawl (the server renders with a browser, so
	// it is longer than the builtin timeout).
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// DefaultUserAgent names the project, as polite crawlers do.
const DefaultUserAgent = "assistant-crawler/1.0 (+https://github.com/assistant-dev/assistant)"

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Backend:            BackendBuiltin,
		UserAgent:          DefaultUserAgent,
		ConnectTimeout:     5 * time.Second,
		Timeout:            20 * time.Second,
		MaxRedirects:       3,
		MaxBodyBytes:       10 << 20,
		Concurrency:        64,
		PerHostConcurrency: 2,
		PerHostDelay:       250 * time.Millisecond,
		Robots:             true,
		RobotsTTL:          time.Hour,
		CacheTTL:           7 * 24 * time.Hour,
		ErrorCacheTTL:      time.Hour,
		Crawl4AI: Crawl4AIConfig{
			URL:     "http://127.0.0.1:11235",
			Timeout: 90 * time.Second,
		},
		Browser: DefaultBrowserConfig(),
	}
}

// Validate checks the settings a crawler cannot work without.
func (c *Config) Validate() error {
	p := config.NewProblems("")
	c.Check(p)
	if err := p.Err(); err != nil {
		var lines []string
		for _, problem := range p.List() {
			lines = append(lines, problem.String())
		}
		return errors.New(strings.Join(lines, "\n"))
	}
	return nil
}

// Check records every problem of the settings in p, each under its own key
// (relative to the crawl block) with the offending value: the crawl4ai
// server's URL only when that backend is chosen.
func (c *Config) Check(p *config.Problems) {
	switch c.Backend {
	case BackendBuiltin:
	case BackendCrawl4AI:
		p.URL("crawl4ai.url", c.Crawl4AI.URL, "http", "https")
		p.Positive("crawl4ai.timeout", c.Crawl4AI.Timeout)
	default:
		p.OneOf("backend", c.Backend, BackendBuiltin, BackendCrawl4AI)
	}
	p.Positive("timeout", c.Timeout)
	p.Positive("connect_timeout", c.ConnectTimeout)
	p.AtLeast("max_redirects", c.MaxRedirects, 0)
	if c.MaxBodyBytes <= 0 {
		p.Invalid("max_body_bytes", c.MaxBodyBytes, "must be positive")
	}
	p.AtLeast("concurrency", c.Concurrency, 1)
	p.AtLeast("per_host_concurrency", c.PerHostConcurrency, 1)
	if c.PerHostDelay < 0 {
		p.Invalid("per_host_delay", c.PerHostDelay, "must not be negative")
	}
	p.NotEmpty("user_agent", c.UserAgent)
	if c.Browser.Enabled {
		b := &c.Browser
		p.AtLeast("browser.min_words", b.MinWords, 1)
		p.AtLeast("browser.tabs", b.Tabs, 1)
		p.Positive("browser.page_timeout", b.PageTimeout)
		if b.Settle < 0 {
			p.Invalid("browser.settle", b.Settle, "must not be negative")
		}
		if b.MaxBytes <= 0 {
			p.Invalid("browser.max_bytes", b.MaxBytes, "must be positive")
		}
		p.AtLeast("browser.max_requests", b.MaxRequests, 1)
	}
}
