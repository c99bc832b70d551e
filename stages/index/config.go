package index

import (
	"time"

	"github.com/assistant-dev/assistant/config"
)

// Config is the stage's section of the configuration (stages.index). The
// stores it writes are the top-level stores: section (store.Config).
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// Retention is deprecated: posts.retention is the one retention of
	// every store. Non-zero, it must equal posts.retention (or, that unset,
	// sets it); config validates it (config.RetentionOverride).
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
	// StoreWait is how long a batch waits for a store that is down before
	// it fails (and the runner retries it); below runner.claim_min_idle.
	StoreWait time.Duration `mapstructure:"store_wait" yaml:"store_wait"`
	// EmbedBatch is the most texts per embedder call.
	EmbedBatch int `mapstructure:"embed_batch" yaml:"embed_batch"`
}

// Renamed are the store settings this block held before they moved to the
// top-level stores: section; a configuration that still sets one works,
// with a deprecation warning.
var Renamed = map[string]string{
	"vector_store":        "stores.vector.backend",
	"collection":          "stores.vector.collection",
	"collection_template": "stores.vector.collection_template",
	"qdrant.url":          "stores.vector.qdrant.url",
	"qdrant.api_key":      "stores.vector.qdrant.api_key",
	"graph_store":         "stores.graph.backend",
	"neo4j.uri":           "stores.graph.neo4j.uri",
	"neo4j.user":          "stores.graph.neo4j.user",
	"neo4j.password":      "stores.graph.neo4j.password",
	"neo4j.database":      "stores.graph.neo4j.database",
}

// DefaultConfig is the stage's configuration with its defaults.
func DefaultConfig() *Config {
	return &Config{
		Pool:       config.Pool{Enabled: true, Workers: 4, BatchSize: 100, MaxInflight: 1000},
		EmbedBatch: 32,
		StoreWait:  20 * time.Second,
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.AtLeast("embed_batch", c.EmbedBatch, 1)
	if c.StoreWait < 0 {
		p.Add("store_wait", "must not be negative, got %s", c.StoreWait)
	}
}

// RetentionOverride returns the deprecated stages.index.retention (0 = unset).
func (c *Config) RetentionOverride() time.Duration { return c.Retention }
