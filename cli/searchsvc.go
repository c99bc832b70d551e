package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/stages/index"
)

// openSearch builds the search service over the stores the index stage's
// configuration (stages.index: vector_store, collection, qdrant) names.
func openSearch(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, logger *slog.Logger, longLived bool) (*search.Service, *search.Mirror, func(), error) {
	ic, ok := cfg.Stage("index").(*index.Config)
	if !ok {
		ic = index.DefaultConfig()
	}
	stores, err := index.OpenStores(ctx, ic, pool)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("search: open the index stores: %w", err)
	}
	svc, mirror, err := search.FromConfig(cfg, pool, stores.Vectors, ic.Collection, logger, longLived)
	if err != nil {
		stores.Close()
		return nil, nil, nil, err
	}
	return svc, mirror, stores.Close, nil
}
