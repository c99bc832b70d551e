package search

import (
	"log/slog"
	"time"

	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// VectorFileOff as search.vector_file turns the one-shot process's
// snapshot off: it scans the vectors in SQL instead.
const VectorFileOff = "off"

// VectorsFor picks how search reads a vector store: Qdrant (its HNSW index)
// and PostgreSQL with pgvector (its index) are searched directly; the
// PostgreSQL backend without pgvector is searched through an in-memory
// Mirror when the process is long-lived (returned so that the caller runs
// it), else through the snapshot file vectorFile (DiskVectors; "" the
// default place, VectorFileOff the store's exact SQL scan).
func VectorsFor(vs store.VectorStore, collection string, dim int, refresh time.Duration, keepExact bool, vectorFile string, logger *slog.Logger, longLived bool) (Vectors, *Mirror) {
	pg, ok := vs.(*postgres.VectorStore)
	if !ok || pg.PGVector() {
		return StoreVectors{Store: vs, Collection: collection}, nil
	}
	if !longLived {
		if vectorFile == VectorFileOff {
			return StoreVectors{Store: vs, Collection: collection}, nil
		}
		return NewDiskVectors(pg, pg.Pool(), collection, dim, vectorFile, logger), nil
	}
	m := NewMirror(pg, pg, collection, dim, MirrorOptions{
		Refresh: refresh, Index: vecindex.Options{KeepExact: keepExact}, Logger: logger,
	})
	return m, m
}
