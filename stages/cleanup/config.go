package cleanup

import (
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Name is the stage name: config section stages.cleanup, consumer group of
// posts.deleted, metrics label.
const Name = "cleanup"

// Config is the stage's settings block, stages.cleanup. The stores it sweeps
// are the ones the top-level stores: section names (one backend selection).
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// Interval is the time between two sweeps.
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
	// SweepBatch is how many posts (or points, nodes) one statement deletes:
	// small, so no statement holds locks long enough to stall the pipeline.
	SweepBatch int `mapstructure:"sweep_batch" yaml:"sweep_batch"`
	// LeaseTTL is how long the sweeper's lease lives without renewal: the
	// time another replica waits after the holder died.
	LeaseTTL time.Duration `mapstructure:"lease_ttl" yaml:"lease_ttl"`
	// TombstoneTTL is how long a deleted post is remembered, so that a late
	// persist or index does not bring it back.
	TombstoneTTL time.Duration `mapstructure:"tombstone_ttl" yaml:"tombstone_ttl"`
	// Pause is slept between two sweep batches, leaving the databases to
	// the pipeline for a moment (0 = none).
	Pause time.Duration `mapstructure:"pause" yaml:"pause"`
}

// DefaultConfig returns the defaults (repeated, with comments, in config.yaml).
func DefaultConfig() *Config {
	return &Config{
		Pool:         config.Pool{Enabled: true, Workers: 1, BatchSize: 100, MaxInflight: 500},
		Interval:     time.Hour,
		SweepBatch:   1000,
		LeaseTTL:     30 * time.Second,
		TombstoneTTL: 7 * 24 * time.Hour,
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.Positive("interval", c.Interval)
	p.AtLeast("sweep_batch", c.SweepBatch, 1)
	p.Positive("lease_ttl", c.LeaseTTL)
	if c.LeaseTTL > 0 && c.LeaseTTL < time.Second {
		p.Add("lease_ttl", "%s is shorter than 1s: the holder could not renew it in time", c.LeaseTTL)
	}
	p.Positive("tombstone_ttl", c.TombstoneTTL)
	if c.Pause < 0 {
		p.Add("pause", "must not be negative")
	}
}

// Definition describes cleanup to the registry: a consumer of posts.deleted
// and the periodic TTL sweep, both on the migrated PostgreSQL schema and the
// configured vector and graph stores.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:        Name,
		Input:       func(s config.Streams) string { return s.Deleted },
		LegacyInput: func(s config.Streams) string { return s.LegacyDeleted },
		Config:      func() any { return DefaultConfig() },
		Needs: []pipeline.Need{pipeline.NeedPostgres, pipeline.NeedMigrations,
			pipeline.NeedVectorStore, pipeline.NeedGraphStore},
		New:      NewStage,
		Service:  NewService,
		Commands: Commands,
		Bench:    BenchCommand,
	}
}
