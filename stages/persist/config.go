package persist

import (
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Config is the persist stage's settings block, stages.persist.
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// Retention is deprecated: posts.retention is the one retention of
	// every store. Non-zero, it must equal posts.retention (or, that unset,
	// sets it); config validates it (config.RetentionOverride).
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
}

// DefaultConfig returns the defaults (repeated, with comments, in config.yaml).
func DefaultConfig() *Config {
	return &Config{
		Pool: config.Pool{Enabled: true, Workers: 2, BatchSize: 500, MaxInflight: 2000},
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
// The deprecated retention is checked against posts.retention by config.
func (c *Config) Validate(*config.Problems) {}

// RetentionOverride returns the deprecated stages.persist.retention (0 = unset).
func (c *Config) RetentionOverride() time.Duration { return c.Retention }

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
		Bench:       BenchCommand,
	}
}
