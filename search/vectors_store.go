package search

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store/postgres"
)

// openVectors opens the configured vector store for searching: the
// PostgreSQL backend, through pgvector's index when the extension is
// installed, else — for a long-lived process — through an in-memory Mirror
// (returned so that the caller runs it), else by the table's exact scan.
func openVectors(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, dim int, logger *slog.Logger, longLived bool) (Vectors, *Mirror, error) {
	st, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		return nil, nil, fmt.Errorf("search: %w", err)
	}
	collection := cfg.Search.Collection
	if st.PGVector() || !longLived {
		return StoreVectors{Store: st, Collection: collection}, nil, nil
	}
	m := NewMirror(st, st, collection, dim, MirrorOptions{
		Refresh: cfg.Search.MirrorRefresh,
		Index:   vecindex.Options{KeepExact: cfg.Search.MirrorKeepExact},
		Logger:  logger,
	})
	return m, m, nil
}
