package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store"
)

// openSearch builds the search service over the index stores of the
// deployment: those of the stage whose settings block names them (a
// store.Opener among the stages that need a vector store).
func (a *app) openSearch(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, logger *slog.Logger, longLived bool) (*search.Service, *search.Mirror, func(), error) {
	opener, err := indexStoresOpener(a.stages, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	stores, err := opener.OpenIndexStores(ctx, pool)
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

// indexStoresOpener finds the settings block that configures the vector
// and graph stores.
func indexStoresOpener(stages *pipeline.Registry, cfg *config.Config) (store.Opener, error) {
	for _, def := range stages.Definitions() {
		if !stages.Needs([]string{def.Name}, pipeline.NeedVectorStore) {
			continue
		}
		if o, ok := cfg.Stage(def.Name).(store.Opener); ok {
			return o, nil
		}
	}
	return nil, errors.New("search: no stage of this binary configures the vector store")
}
