package search_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store/postgres"
)

// storedSample loads the 500-post sample into the PostgreSQL vector store
// of a fresh schema (collection "posts", the local embedder) and returns
// the pool (closed when the test ends), the store, the embedder and the
// post ids in sample order.
func storedSample(ctx context.Context, t *testing.T) (*pgxpool.Pool, *postgres.VectorStore, *local.Embedder, []string) {
	t.Helper()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	posts, err := search.ReadCorpus(testenv.SamplePath(), 0)
	if err != nil {
		t.Fatal(err)
	}
	emb := local.NewEmbedder(0)
	ids, err := search.LoadCorpus(ctx, pool, emb, nil, posts, search.LoadOptions{Store: st, Collection: "posts"})
	if err != nil {
		t.Fatal(err)
	}
	return pool, st, emb, ids
}
