package index

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/qdrant"
)

// Backend names of vector_store and graph_store.
const (
	BackendPostgres = "postgres"
	BackendQdrant   = "qdrant"
	BackendNeo4j    = "neo4j"
)

// Config is the stage's section of the configuration (stages.index).
type Config struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	// VectorStore is postgres (embedded, the default) or qdrant.
	VectorStore string `mapstructure:"vector_store" yaml:"vector_store"`
	// GraphStore is postgres (embedded, the default) or neo4j.
	GraphStore string `mapstructure:"graph_store" yaml:"graph_store"`
	// Collection is the vector collection; CollectionTemplate, when set,
	// names one per tenant ({tenant_id} is replaced), e.g. t{tenant_id}_posts.
	Collection         string `mapstructure:"collection" yaml:"collection"`
	CollectionTemplate string `mapstructure:"collection_template" yaml:"collection_template"`
	// Retention is deprecated: posts.retention is the one retention of
	// every store. Non-zero, it must equal posts.retention (or, that unset,
	// sets it); config validates it (config.RetentionOverride).
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
	// StoreWait is how long a batch waits for a store that is down before
	// it fails (and the runner retries it); below runner.claim_min_idle.
	StoreWait time.Duration `mapstructure:"store_wait" yaml:"store_wait"`
	// EmbedBatch is the most texts per embedder call.
	EmbedBatch int        `mapstructure:"embed_batch" yaml:"embed_batch"`
	Qdrant     QdrantConf `mapstructure:"qdrant" yaml:"qdrant"`
	Neo4j      Neo4jConf  `mapstructure:"neo4j" yaml:"neo4j"`
}

// QdrantConf locates Qdrant (QDRANT_URL, QDRANT_API_KEY).
type QdrantConf struct {
	URL    string `mapstructure:"url" yaml:"url"`
	APIKey string `mapstructure:"api_key" yaml:"api_key" secret:"true"`
}

// Neo4jConf locates Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD).
type Neo4jConf struct {
	URI      string `mapstructure:"uri" yaml:"uri"`
	User     string `mapstructure:"user" yaml:"user"`
	Password string `mapstructure:"password" yaml:"password" secret:"true"`
	Database string `mapstructure:"database" yaml:"database"`
}

// DefaultConfig is the stage's configuration with its defaults: the
// embedded backends, so Redis and PostgreSQL run the whole pipeline.
func DefaultConfig() *Config {
	return &Config{
		Pool:        config.Pool{Enabled: true, Workers: 4, BatchSize: 100, MaxInflight: 1000},
		VectorStore: BackendPostgres,
		GraphStore:  BackendPostgres,
		Collection:  "posts",
		EmbedBatch:  32,
		StoreWait:   20 * time.Second,
		Qdrant:      QdrantConf{URL: "http://localhost:6334"},
		Neo4j:       Neo4jConf{URI: "neo4j://localhost:7687", User: "neo4j"},
	}
}

// envNames maps the seed's environment variables onto the section.
var envNames = []struct {
	name string
	dst  func(*Config) *string
}{
	{"QDRANT_URL", func(c *Config) *string { return &c.Qdrant.URL }},
	{"QDRANT_API_KEY", func(c *Config) *string { return &c.Qdrant.APIKey }},
	{"NEO4J_URI", func(c *Config) *string { return &c.Neo4j.URI }},
	{"NEO4J_USER", func(c *Config) *string { return &c.Neo4j.User }},
	{"NEO4J_PASSWORD", func(c *Config) *string { return &c.Neo4j.Password }},
}

// ApplyEnv lets QDRANT_URL, QDRANT_API_KEY, NEO4J_URI, NEO4J_USER and
// NEO4J_PASSWORD override the section (lookup is os.LookupEnv when nil).
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	for _, e := range envNames {
		if v, ok := lookup(e.name); ok {
			*e.dst(c) = v
		}
	}
}

// Validate checks the stage's own settings; the pool is checked by config.
func (c *Config) Validate(p *config.Problems) {
	p.OneOf("vector_store", c.VectorStore, BackendPostgres, BackendQdrant)
	p.OneOf("graph_store", c.GraphStore, BackendPostgres, BackendNeo4j)
	// The stage applies QDRANT_URL and NEO4J_* over the section when it
	// starts, so those are the addresses to check.
	withEnv := *c
	withEnv.ApplyEnv(nil)
	if c.VectorStore == BackendQdrant {
		p.URL("qdrant.url", withEnv.Qdrant.URL, "http", "https")
	}
	if c.GraphStore == BackendNeo4j {
		p.URL("neo4j.uri", withEnv.Neo4j.URI, "bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
	}
	p.NotEmpty("collection", c.Collection)
	if c.CollectionTemplate != "" && !strings.Contains(c.CollectionTemplate, "{tenant_id}") {
		p.Add("collection_template", "%q does not contain {tenant_id}", c.CollectionTemplate)
	}
	p.AtLeast("embed_batch", c.EmbedBatch, 1)
	if c.StoreWait < 0 {
		p.Add("store_wait", "must not be negative, got %s", c.StoreWait)
	}
}

// RetentionOverride returns the deprecated stages.index.retention (0 = unset).
func (c *Config) RetentionOverride() time.Duration { return c.Retention }

// check validates c on its own (outside config loading).
func (c *Config) check() error {
	p := config.NewProblems("stages." + Name)
	c.Validate(p)
	return p.Err()
}

// Stores are the backends a Config names, opened.
type Stores struct {
	Vectors store.VectorStore
	Graph   store.GraphStore
	// Close releases what was opened here (not the shared pool).
	Close func()
}

// OpenIndexStores implements store.Opener: search and the console open the
// stores this block configures through it.
func (c *Config) OpenIndexStores(ctx context.Context, pool *pgxpool.Pool) (store.Opened, error) {
	st, err := OpenStores(ctx, c, pool)
	if err != nil {
		return store.Opened{}, err
	}
	return store.Opened{Vectors: st.Vectors, Collection: c.Collection, Graph: st.Graph, Close: st.Close}, nil
}

var _ store.Opener = (*Config)(nil)

// OpenStores opens the vector and graph stores the configuration names;
// the postgres backends use pool.
func OpenStores(ctx context.Context, c *Config, pool *pgxpool.Pool) (Stores, error) {
	if err := c.check(); err != nil {
		return Stores{}, err
	}
	var closers []func()
	st := Stores{Close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	switch c.VectorStore {
	case BackendQdrant:
		q, err := qdrant.Open(qdrant.Config{URL: c.Qdrant.URL, APIKey: c.Qdrant.APIKey})
		if err != nil {
			return Stores{}, err
		}
		closers = append(closers, func() { _ = q.Close() })
		st.Vectors = q
	default:
		v, err := postgres.NewVectorStore(ctx, pool)
		if err != nil {
			return Stores{}, err
		}
		st.Vectors = v
	}
	switch c.GraphStore {
	case BackendNeo4j:
		n, err := neo4j.Open(neo4j.Config{URI: c.Neo4j.URI, User: c.Neo4j.User, Password: c.Neo4j.Password, Database: c.Neo4j.Database})
		if err != nil {
			st.Close()
			return Stores{}, err
		}
		closers = append(closers, func() { _ = n.Close(context.WithoutCancel(ctx)) })
		st.Graph = n
	default:
		st.Graph = postgres.NewGraphStore(pool)
	}
	return st, nil
}
