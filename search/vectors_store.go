package search

import (
	"log/slog"
	"time"

	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// VectorsFor picks how search reads a vector store: Qdrant (its HNSW index)
// and PostgreSQL with pgvector (its index) are searched directly; the
// PostgreSQL backend without pgvector is searched through an in-memory
// Mirror when the process is long-lived (returned so that the caller runs
// it), else by its exact scan (a one-shot CLI query).
func VectorsFor(vs store.VectorStore, collection string, dim int, refresh time.Duration, keepExact bool, logger *slog.Logger, longLived bool) (Vectors, *Mirror) {
	pg, ok := vs.(*postgres.VectorStore)
	if !ok || pg.PGVector() || !longLived {
		return StoreVectors{Store: vs, Collection: collection}, nil
	}
	m := NewMirror(pg, pg, collection, dim, MirrorOptions{
		Refresh: refresh, Index: vecindex.Options{KeepExact: keepExact}, Logger: logger,
	})
	return m, m
}
