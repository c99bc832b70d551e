package search

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Sandbox is a corpus indexed into a temporary schema of a database, for
// `assistant eval search` and `assistant bench search`: nothing of the
// daemon's own tables is touched, and Close drops the schema.
type Sandbox struct {
	Service *Service
	Pool    *pgxpool.Pool
	Index   *vecindex.Index
	// Mirror and Store are set when the sandbox stores vectors in the
	// PostgreSQL vector backend (SandboxOptions.VectorStore).
	Mirror *Mirror
	Store  *postgres.VectorStore
	// IDs are the post ids in load order; KeyOf maps them to post keys.
	IDs   []string
	KeyOf map[string]string
	drop  func()
}

// SandboxOptions shapes a sandbox.
type SandboxOptions struct {
	DatabaseURL string
	Posts       []CorpusPost
	Embedder    ai.Embedder
	Load        LoadOptions
	Index       vecindex.Options
	Search      Options
	// VectorStore writes the vectors to the PostgreSQL vector backend and
	// searches them through a loaded Mirror (the daemon's path), instead of
	// an in-memory index filled directly.
	VectorStore bool
}

// NewSandbox creates the schema, migrates it and loads the posts.
func NewSandbox(ctx context.Context, o SandboxOptions) (*Sandbox, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "assistant_search_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	sb := &Sandbox{}
	sb.drop = func() {
		c := context.Background()
		_, _ = admin.Exec(c, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		admin.Close(c)
	}
	fail := func(err error) (*Sandbox, error) {
		sb.Close()
		return nil, err
	}
	u, err := url.Parse(o.DatabaseURL)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return fail(fmt.Errorf("database url must be a postgres:// URL"))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if err := postgres.MigrateUp(ctx, u.String()); err != nil {
		return fail(err)
	}
	if sb.Pool, err = pgxpool.New(ctx, u.String()); err != nil {
		return fail(fmt.Errorf("connect to postgres: %w", err))
	}
	var vectors Vectors
	switch {
	case o.Embedder != nil && o.VectorStore:
		if sb.Store, err = postgres.NewVectorStore(ctx, sb.Pool); err != nil {
			return fail(err)
		}
		o.Load.Store = sb.Store
		if o.Load.Collection == "" {
			o.Load.Collection = "posts"
		}
		sb.Mirror = NewMirror(sb.Store, sb.Store, o.Load.Collection, o.Embedder.Dimension(), MirrorOptions{Index: o.Index, Refresh: time.Hour})
		sb.Index = sb.Mirror.Index()
		vectors = sb.Mirror
	case o.Embedder != nil:
		sb.Index = vecindex.New(o.Embedder.Dimension(), o.Index)
		vectors = IndexVectors{Index: sb.Index}
	}
	var direct *vecindex.Index
	if sb.Mirror == nil {
		direct = sb.Index
	}
	if sb.IDs, err = LoadCorpus(ctx, sb.Pool, o.Embedder, direct, o.Posts, o.Load); err != nil {
		return fail(err)
	}
	if sb.Mirror != nil {
		if err := sb.Mirror.Load(ctx); err != nil {
			return fail(err)
		}
	}
	sb.KeyOf = make(map[string]string, len(sb.IDs))
	for i, id := range sb.IDs {
		sb.KeyOf[id] = PostKey(o.Posts[i%len(o.Posts)])
	}
	if _, err := sb.Pool.Exec(ctx, "ANALYZE"); err != nil {
		return fail(fmt.Errorf("analyze: %w", err))
	}
	var emb ai.Embedder
	if o.Embedder != nil {
		emb = o.Embedder
	}
	sb.Service = New(sb.Pool, emb, vectors, o.Search)
	return sb, nil
}

// Close releases the pool and drops the schema.
func (sb *Sandbox) Close() {
	if sb.Pool != nil {
		sb.Pool.Close()
	}
	if sb.drop != nil {
		sb.drop()
		sb.drop = nil
	}
}
