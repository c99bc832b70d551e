package persist

import (
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Config is the persist stage's settings block, stages.persist.
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// Retention is how long a post lives after posted_at (posts.expires_at).
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
}

// DefaultConfig returns the defaults (repeated, with comments, in config.yaml).
func DefaultConfig() *Config {
	return &Config{
		Pool:      config.Pool{Enabled: true, Workers: 2, BatchSize: 500, MaxInflight: 2000},
		Retention: 90 * 24 * time.Hour,
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.Positive("retention", c.Retention)
}

// Definition describes the persist stage to the registry: a sink of
// posts.tagged, in whole batches, on the migrated PostgreSQL schema.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:        Name,
		Input:       func(s config.Streams) string { return s.Tagged },
		LegacyInput: func(s config.Streams) string { return s.LegacyTagged },
		Batch:       true,
		Config:      func() any { return DefaultConfig() },
		Needs:       []pipeline.Need{pipeline.NeedPostgres, pipeline.NeedMigrations},
		New:         New,
	}
}
