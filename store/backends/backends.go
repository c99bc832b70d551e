// Package backends opens the vector and graph stores the stores: section
// names (store.Config): the embedded PostgreSQL backends, Qdrant or Neo4j.
// The index stage, cleanup, search and the console all open them here, so
// they reach the same stores the same way.
package backends

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/resource"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/qdrant"
)

// ResourceName is the name under which the opened stores are shared in a
// resource.Set (see Shared).
const ResourceName = "stores"

// Open opens the stores c names; the postgres backends use pool. The
// returned Close releases what was opened here (not the pool).
func Open(ctx context.Context, c store.Config, pool *pgxpool.Pool) (store.Opened, error) {
	p := config.NewProblems("stores")
	c.Validate(p)
	if err := p.Err(); err != nil {
		return store.Opened{}, err
	}
	var closers []func()
	st := store.Opened{Collection: c.Vector.Collection, Close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	switch c.Vector.Backend {
	case store.BackendQdrant:
		q, err := qdrant.Open(qdrant.Config{URL: c.Vector.Qdrant.URL, APIKey: c.Vector.Qdrant.APIKey})
		if err != nil {
			return store.Opened{}, fmt.Errorf("open the qdrant vector store: %w", err)
		}
		closers = append(closers, func() { _ = q.Close() })
		st.Vectors = q
	default:
		v, err := postgres.NewVectorStore(ctx, pool)
		if err != nil {
			return store.Opened{}, fmt.Errorf("open the postgres vector store: %w", err)
		}
		st.Vectors = v
	}
	switch c.Graph.Backend {
	case store.BackendNeo4j:
		n, err := neo4j.Open(neo4j.Config{URI: c.Graph.Neo4j.URI, User: c.Graph.Neo4j.User,
			Password: c.Graph.Neo4j.Password, Database: c.Graph.Neo4j.Database})
		if err != nil {
			st.Close()
			return store.Opened{}, fmt.Errorf("open the neo4j graph store: %w", err)
		}
		closers = append(closers, func() { _ = n.Close(context.WithoutCancel(ctx)) })
		st.Graph = n
	default:
		st.Graph = postgres.NewGraphStore(pool)
	}
	return st, nil
}

// Shared returns the process's one set of stores (and the PostgreSQL pool
// they use), opening them on the first call: the index stage and cleanup
// write and sweep the same instances.
func Shared(ctx context.Context, res *resource.Set, cfg *config.Config) (*pgxpool.Pool, store.Opened, error) {
	// resource.Get holds the set's lock while opening: the pool is fetched
	// first, not from inside the stores' open function.
	pool, err := postgres.Shared(ctx, res, cfg.Database)
	if err != nil {
		return nil, store.Opened{}, err
	}
	st, err := resource.Get(res, ResourceName, func() (store.Opened, func(), error) {
		st, err := Open(ctx, cfg.Stores, pool)
		return st, st.Close, err
	})
	return pool, st, err
}
