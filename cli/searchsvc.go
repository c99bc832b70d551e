package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store/backends"
)

// openSearch builds the search service over the stores the stores: section
// names, opened the way the index stage opens them.
func (a *app) openSearch(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, logger *slog.Logger, longLived bool) (*search.Service, *search.Mirror, func(), error) {
	stores, err := backends.Open(ctx, cfg.Stores, pool)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("search: open the vector and graph stores: %w", err)
	}
	if !longLived {
		// A one-shot command's stderr is for what went wrong: the
		// providers' start-up lines ("tagger chain") are the daemon's.
		if logger == nil {
			logger = a.log()
		}
		logger = atLeast(logger, slog.LevelWarn)
	}
	svc, mirror, err := search.FromConfig(cfg, pool, stores.Vectors, stores.Collection, logger, longLived)
	if err != nil {
		stores.Close()
		return nil, nil, nil, err
	}
	return svc, mirror, stores.Close, nil
}
