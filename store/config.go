package store

import "strings"

// Backend names of stores.vector.backend and stores.graph.backend.
const (
	BackendPostgres = "postgres" // embedded in the daemon's PostgreSQL (the default)
	BackendQdrant   = "qdrant"
	BackendNeo4j    = "neo4j"
)

// Config is the top-level stores: section: which backends hold the vectors
// and the graph, and how to reach them. The index stage writes the stores it
// names, cleanup sweeps them, search and the console read them: all open
// them through store/backends from this one block.
type Config struct {
	Vector VectorConfig `mapstructure:"vector" yaml:"vector"`
	Graph  GraphConfig  `mapstructure:"graph" yaml:"graph"`
}

// VectorConfig selects and locates the vector store.
type VectorConfig struct {
	// Backend is postgres (embedded, the default) or qdrant.
	Backend string `mapstructure:"backend" yaml:"backend"`
	// Collection is the vector collection; CollectionTemplate, when set,
	// names one per tenant ({tenant_id} is replaced), e.g. t{tenant_id}_posts.
	Collection         string `mapstructure:"collection" yaml:"collection"`
	CollectionTemplate string `mapstructure:"collection_template" yaml:"collection_template"`
	// Qdrant locates Qdrant (QDRANT_URL, QDRANT_API_KEY).
	Qdrant QdrantConfig `mapstructure:"qdrant" yaml:"qdrant"`
}

// QdrantConfig locates Qdrant.
type QdrantConfig struct {
	URL    string `mapstructure:"url" yaml:"url"`
	APIKey string `mapstructure:"api_key" yaml:"api_key" secret:"true"`
}

// GraphConfig selects and locates the graph store.
type GraphConfig struct {
	// Backend is postgres (embedded, the default) or neo4j.
	Backend string `mapstructure:"backend" yaml:"backend"`
	// Neo4j locates Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD).
	Neo4j Neo4jConfig `mapstructure:"neo4j" yaml:"neo4j"`
}

// Neo4jConfig locates Neo4j.
type Neo4jConfig struct {
	URI      string `mapstructure:"uri" yaml:"uri"`
	User     string `mapstructure:"user" yaml:"user"`
	Password string `mapstructure:"password" yaml:"password" secret:"true"`
	Database string `mapstructure:"database" yaml:"database"`
}

// DefaultConfig is the stores: section with its defaults: the embedded
// backends, so Redis and PostgreSQL run the whole pipeline.
func DefaultConfig() Config {
	return Config{
		Vector: VectorConfig{Backend: BackendPostgres, Collection: "posts",
			Qdrant: QdrantConfig{URL: "http://localhost:6334"}},
		Graph: GraphConfig{Backend: BackendPostgres,
			Neo4j: Neo4jConfig{URI: "neo4j://localhost:7687", User: "neo4j"}},
	}
}

// Validator records invalid settings; the configuration's problem list
// (*config.Problems, scoped to stores) is one.
type Validator interface {
	Add(key, format string, args ...any)
	OneOf(key, val string, allowed ...string)
	NotEmpty(key, val string)
	URL(key, raw string, schemes ...string)
}

// Validate checks the section; keys are relative to stores.
func (c Config) Validate(v Validator) {
	v.OneOf("vector.backend", c.Vector.Backend, BackendPostgres, BackendQdrant)
	v.OneOf("graph.backend", c.Graph.Backend, BackendPostgres, BackendNeo4j)
	if c.Vector.Backend == BackendQdrant {
		v.URL("vector.qdrant.url", c.Vector.Qdrant.URL, "http", "https")
	}
	if c.Graph.Backend == BackendNeo4j {
		v.URL("graph.neo4j.uri", c.Graph.Neo4j.URI, "bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
	}
	v.NotEmpty("vector.collection", c.Vector.Collection)
	if t := c.Vector.CollectionTemplate; t != "" && !strings.Contains(t, "{tenant_id}") {
		v.Add("vector.collection_template", "%q does not contain {tenant_id}", t)
	}
}

// Embedded reports whether the vectors and the graph live in the daemon's
// PostgreSQL database.
func (c Config) Embedded() (vectors, graph bool) {
	return c.Vector.Backend == BackendPostgres, c.Graph.Backend == BackendPostgres
}
