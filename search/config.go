package search

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai/provider"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/store"
)

// OptionsFromConfig maps the search section of the configuration.
func OptionsFromConfig(c config.Search) Options {
	return Options{
		RRFK: c.RRFK, KeywordWeight: c.KeywordWeight, SemanticWeight: c.SemanticWeight,
		CrawlWeight: c.CrawlWeight, Candidates: c.Candidates, MaxLimit: c.MaxLimit,
		MinSemanticScore: c.MinSemanticScore, Rerank: c.Rerank, RerankWeight: c.RerankWeight,
		PartialWeight: c.PartialWeight,
	}
}

// FromConfig builds the service the CLI and the daemon use: PostgreSQL for
// full text and the final rows, the configured embedder, and vs — the
// index stage's vector store — for collection. For a long-lived process
// (the daemon) over the PostgreSQL backend without pgvector it also returns
// the in-memory Mirror of the vectors, which the caller must Run; otherwise
// the Mirror is nil and a one-shot process over that backend searches a
// snapshot file (DiskVectors, search.vector_file).
func FromConfig(cfg *config.Config, pool *pgxpool.Pool, vs store.VectorStore, collection string, logger *slog.Logger, longLived bool) (*Service, *Mirror, error) {
	if logger == nil {
		logger = slog.Default()
	}
	providers, err := provider.New(cfg, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("search: %w", err)
	}
	emb, err := providers.Embedder()
	if err != nil {
		return nil, nil, fmt.Errorf("search: embedder: %w", err)
	}
	vectors, mirror := VectorsFor(vs, collection, emb.Dimension(), cfg.Search.MirrorRefresh, cfg.Search.MirrorKeepExact, cfg.Search.VectorFile, logger, longLived)
	return New(pool, emb, vectors, OptionsFromConfig(cfg.Search)), mirror, nil
}
