package enrich

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// New builds the stage from the daemon's dependencies and its decoded
// stages.enrich section.
func New(ctx context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
	settings := DefaultConfig()
	if deps.StageConfig != nil {
		var err error
		if settings, err = pipeline.StageSettings[*Config](deps); err != nil {
			return nil, fmt.Errorf("enrich: %w", err)
		}
	}
	return FromDeps(ctx, deps, *settings)
}

// FromDeps builds the stage the way the daemon does: the crawler chosen by
// cfg.Crawl.Backend behind the Redis cache (under the deployment's key
// prefix), the shared Postgres pool, the configured output stream and the
// runner's max_attempts. The registry's constructor calls it with the
// stage's decoded stages.enrich section.
func FromDeps(ctx context.Context, deps pipeline.Deps, cfg Config) (*Stage, error) {
	if deps.Config == nil || deps.Resources == nil || deps.Redis == nil {
		return nil, errors.New("enrich: deps need a config, resources and redis")
	}
	if err := cfg.Crawl.Validate(); err != nil {
		return nil, fmt.Errorf("enrich: stages.enrich.crawl: %w", err)
	}
	pool, err := postgres.Shared(ctx, deps.Resources, deps.Config.Database)
	if err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	backend, err := crawl.New(cfg.Crawl, crawl.WithLogger(deps.Logger))
	if err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	var crawler crawl.Crawler = backend
	if cfg.Crawl.CacheTTL > 0 {
		crawler = crawl.NewCache(backend, deps.Redis, deps.Keys.Prefix, cfg.Crawl.CacheTTL, cfg.Crawl.ErrorCacheTTL, deps.Logger)
	}
	repo := postgres.NewRepository(pool)
	s, err := NewStage(Options{
		Config: cfg, Crawler: crawler, Store: repo, Output: deps.Config.Streams.Enriched,
		MaxAttempts: deps.Config.Runner.MaxAttempts, Logger: deps.Logger, Metrics: deps.Metrics,
	})
	if err != nil {
		return nil, err
	}
	s.check = repo.Ping
	if c, ok := backend.(io.Closer); ok {
		s.close = c.Close
	}
	return s, nil
}

// Check reports whether Postgres answers (for /readyz).
func (s *Stage) Check(ctx context.Context) error {
	if s.check == nil {
		return nil
	}
	return s.check(ctx)
}

// Close releases the crawler's idle connections.
func (s *Stage) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}
