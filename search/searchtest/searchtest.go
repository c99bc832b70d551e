// Package searchtest builds, for tests, a search service over the committed
// 500-post corpus sample indexed the way the pipeline does it: tags from the
// local tagger, posts and tag rows written by persist's UPSERT, vectors from
// the local embedder in the in-memory vector index — in a private schema of
// the real PostgreSQL (internal/testenv).
package searchtest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Fixture is an indexed sample.
type Fixture struct {
	Service *search.Service
	Pool    *pgxpool.Pool
	// IDs are the post ids in sample order (IDs[i] is Posts[i]).
	IDs   []string
	Posts []search.CorpusPost
	Index *vecindex.Index
}

// New indexes the sample into a fresh schema with the local hashing
// embedder.
func New(t testing.TB) *Fixture {
	t.Helper()
	return NewWith(t, nil)
}

// NewWith indexes the sample with the embedder made by emb from the
// sample's posts (nil: the local hashing embedder).
func NewWith(t testing.TB, emb func(posts []search.CorpusPost) ai.Embedder) *Fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	posts, err := search.ReadCorpus(testenv.SamplePath(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var e ai.Embedder = local.NewEmbedder(0)
	if emb != nil {
		e = emb(posts)
	}
	ix := vecindex.New(e.Dimension(), vecindex.Options{KeepExact: true})
	ids, err := search.LoadCorpus(ctx, pool, e, ix, posts, search.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &Fixture{
		Service: search.New(pool, e, search.IndexVectors{Index: ix}, search.DefaultOptions()),
		Pool:    pool, IDs: ids, Posts: posts, Index: ix,
	}
}

// Rank is the 1-based rank of sample post i among ids (0: absent).
func (f *Fixture) Rank(results []search.Result, i int) int {
	for r, res := range results {
		if res.PostID == f.IDs[i] {
			return r + 1
		}
	}
	return 0
}

// SetTenants gives sample post i the tenant tenantOf(i) in PostgreSQL and
// in the vector index's metadata, as persist and index would have written
// posts that carried it.
func (f *Fixture) SetTenants(t testing.TB, tenantOf func(i int) string) {
	t.Helper()
	ctx := context.Background()
	ids, tenants := make([]string, len(f.IDs)), make([]string, len(f.IDs))
	for i, id := range f.IDs {
		ids[i], tenants[i] = id, tenantOf(i)
	}
	if _, err := f.Pool.Exec(ctx, `UPDATE posts p SET tenant_id = u.tenant
FROM unnest($1::text[], $2::text[]) AS u(post_id, tenant) WHERE p.post_id = u.post_id`, ids, tenants); err != nil {
		t.Fatal(err)
	}
	for i, p := range f.Posts {
		vec, ok := f.Index.Vector(f.IDs[i])
		if !ok {
			continue
		}
		postedAt, err := time.Parse(time.RFC3339, p.Date)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Index.Upsert(vecindex.Point{ID: f.IDs[i], Vector: vec, Meta: vecindex.Meta{
			ChannelID: strconv.FormatInt(p.ChannelID, 10), TenantID: tenants[i], PostedAt: postedAt.Unix(),
		}}); err != nil {
			t.Fatal(err)
		}
	}
}
