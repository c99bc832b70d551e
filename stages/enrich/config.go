package enrich

import (
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/links"
	"github.com/assistant-dev/assistant/pipeline"
)

// Config is the stage's section, stages.enrich.
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// CrawlEnabled turns crawling on; when off every post is published
	// skipped (skip_reason crawl_disabled), so index still gets it.
	CrawlEnabled bool `mapstructure:"crawl_enabled" yaml:"crawl_enabled"`
	// MaxURLsPerPost is how many URLs of one post are crawled at most.
	MaxURLsPerPost int `mapstructure:"max_urls_per_post" yaml:"max_urls_per_post"`
	// AllowDomains, when not empty, are the only domains crawled;
	// DenyDomains are never crawled; SkipDomains are not worth crawling
	// (t.me and Telegram's other domains by default). A domain matches its
	// subdomains too.
	AllowDomains []string `mapstructure:"allow_domains" yaml:"allow_domains"`
	DenyDomains  []string `mapstructure:"deny_domains" yaml:"deny_domains"`
	SkipDomains  []string `mapstructure:"skip_domains" yaml:"skip_domains"`
	// ExcerptChars is the length of markdown_excerpt in posts.enriched (the
	// full Markdown is in post_enrichment).
	ExcerptChars int `mapstructure:"excerpt_chars" yaml:"excerpt_chars"`
	// Crawl configures the crawler (backend, limits, cache).
	Crawl crawl.Config `mapstructure:"crawl" yaml:"crawl"`
}

// DefaultConfig returns the stage defaults (repeated, with comments, in
// config.yaml).
func DefaultConfig() *Config {
	return &Config{
		// Crawling is latency-bound: many posts in flight at once, each
		// waiting on the network, few of them using the CPU.
		Pool:           config.Pool{Enabled: true, Workers: 64, BatchSize: 64, MaxInflight: 512},
		CrawlEnabled:   true,
		MaxURLsPerPost: 3,
		AllowDomains:   []string{},
		DenyDomains:    []string{},
		SkipDomains:    append([]string(nil), links.DefaultSkipDomains...),
		ExcerptChars:   500,
		Crawl:          crawl.DefaultConfig(),
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.AtLeast("max_urls_per_post", c.MaxURLsPerPost, 0)
	p.AtLeast("excerpt_chars", c.ExcerptChars, 0)
	c.Crawl.Check(p.Section("crawl"))
}

// Definition describes the enrich stage to the registry: it reads
// posts.tagged in its own group (beside persist) and publishes
// posts.enriched, one entry per message, storing rows in the migrated
// PostgreSQL schema.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:        Name,
		Input:       func(s config.Streams) string { return s.Tagged },
		LegacyInput: func(s config.Streams) string { return s.LegacyTagged },
		Outputs:     func(s config.Streams) []string { return []string{s.Enriched} },
		Config:      func() any { return DefaultConfig() },
		Needs:       []pipeline.Need{pipeline.NeedPostgres, pipeline.NeedMigrations},
		New:         New,
		Bench:       BenchCommand,
		Commands:    Commands,
	}
}

// Policy is the URL policy of the configuration.
func (c *Config) Policy() links.Policy {
	return links.Policy{MaxURLs: c.MaxURLsPerPost, Allow: c.AllowDomains, Deny: c.DenyDomains, Skip: c.SkipDomains}
}
