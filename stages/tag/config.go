package tag

import (
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Config is the tag stage's settings block, stages.tag (config.yaml, docs/configuration.md; the tagging rules in ai/validate.go).
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// MinChars: shorter posts without media get empty tags, no model call.
	MinChars int `mapstructure:"min_chars" yaml:"min_chars"`
	// MaxInputChars cuts the text sent to a model tagger (a tagger that
	// reads the whole text, the local one, gets all of it).
	MaxInputChars int `mapstructure:"max_input_chars" yaml:"max_input_chars"`
	// MaxTags is the number of tags kept per post.
	MaxTags int `mapstructure:"max_tags" yaml:"max_tags"`
	// CacheSize and CacheTTL shape the in-process dedup cache (LRU).
	CacheSize int           `mapstructure:"cache_size" yaml:"cache_size"`
	CacheTTL  time.Duration `mapstructure:"cache_ttl" yaml:"cache_ttl"`
	// DedupTTL is the TTL of the Redis mark tagging:processed:<post_id>:<content_hash>.
	DedupTTL time.Duration `mapstructure:"dedup_ttl" yaml:"dedup_ttl"`
	// PromptBatch is how many posts one model call tags (a numbered batch
	// in one prompt) when the tagger can take several (gigachat,
	// openrouter, openai); 1 sends one post per call. The local tagger
	// always takes one.
	PromptBatch int `mapstructure:"prompt_batch" yaml:"prompt_batch"`
	// CallTimeout bounds one tagger call, all providers of the chain included.
	CallTimeout time.Duration `mapstructure:"call_timeout" yaml:"call_timeout"`
}

// DefaultConfig returns the defaults (repeated, with comments, in config.yaml).
func DefaultConfig() *Config {
	return &Config{
		Pool:          config.Pool{Enabled: true, Workers: 4, BatchSize: 32, MaxInflight: 256},
		MinChars:      80,
		MaxInputChars: 1000,
		MaxTags:       5,
		CacheSize:     10000,
		CacheTTL:      24 * time.Hour,
		DedupTTL:      24 * time.Hour,
		PromptBatch:   10,
		CallTimeout:   60 * time.Second,
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.AtLeast("min_chars", c.MinChars, 0)
	p.AtLeast("max_input_chars", c.MaxInputChars, 1)
	p.AtLeast("max_tags", c.MaxTags, 1)
	p.AtLeast("cache_size", c.CacheSize, 1)
	p.Positive("cache_ttl", c.CacheTTL)
	p.Positive("dedup_ttl", c.DedupTTL)
	p.AtLeast("prompt_batch", c.PromptBatch, 1)
	p.Positive("call_timeout", c.CallTimeout)
}

// Definition describes the tag stage to the registry: posts.parsed in,
// posts.tagged out, the tagger chain needed.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:        Name,
		Input:       func(s config.Streams) string { return s.Parsed },
		LegacyInput: func(s config.Streams) string { return s.LegacyParsed },
		Outputs:     func(s config.Streams) []string { return []string{s.Tagged} },
		// Whole batches, so several posts can share one model call.
		Batch:  true,
		Config: func() any { return DefaultConfig() },
		Needs:  []pipeline.Need{pipeline.NeedTagger},
		New:    New,
	}
}
