package index

import (
	"context"
	"errors"
	"fmt"

	"github.com/assistant-dev/assistant/ai/provider"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/backends"
	"github.com/assistant-dev/assistant/store/tombstone"
)

// Definition describes the index stage to the registry: posts.enriched in
// whole batches (one embedder call per batch), posts.indexed out; it needs
// the migrated PostgreSQL schema (indexing_status, and the embedded
// backends), the configured vector and graph stores and the embedder.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:    Name,
		Input:   func(s config.Streams) string { return s.Enriched },
		Outputs: func(s config.Streams) []string { return []string{s.Indexed} },
		Batch:   true,
		Config:  func() any { return DefaultConfig() },
		Renamed: Renamed,
		Needs: []pipeline.Need{pipeline.NeedPostgres, pipeline.NeedMigrations,
			pipeline.NeedVectorStore, pipeline.NeedGraphStore, pipeline.NeedEmbedder},
		New:      NewFromDeps,
		Commands: Commands,
		Bench:    BenchCommand,
	}
}

// NewFromDeps builds the stage from the process's dependencies: the shared
// Postgres pool, the stores the stores: section names (the same instances
// cleanup sweeps), and the configured embedder,
// shared with other stages through the "ai" resource.
func NewFromDeps(ctx context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
	if deps.Config == nil || deps.Resources == nil {
		return nil, errors.New("index: deps need a config and resources")
	}
	settings, err := pipeline.StageSettings[*Config](deps)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	cfg := *settings
	pool, stores, err := backends.Shared(ctx, deps.Resources, deps.Config)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	set, err := pipeline.Resource(deps.Resources, "ai", func() (*provider.Set, func(), error) {
		s, err := provider.New(deps.Config, deps.Logger)
		return s, nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	emb, err := set.Embedder()
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return New(ctx, Options{
		Pool: pool, Vectors: stores.Vectors, Graph: stores.Graph,
		Embedder: emb, Provider: set.EmbedderName(),
		Collection: deps.Config.Stores.Vector.Collection, CollectionTemplate: deps.Config.Stores.Vector.CollectionTemplate,
		Retention: deps.Config.Posts.Retention, ReceiptFloor: deps.Config.Posts.ReceiptFloor, EmbedBatch: cfg.EmbedBatch, StoreWait: cfg.StoreWait,
		Output: deps.Config.Streams.Indexed, Logger: deps.Logger, Metrics: deps.Metrics,
		Tombstones: tombstone.New(deps.Redis, deps.Keys.Prefix),
	})
}
