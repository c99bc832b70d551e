package index_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/neo4j/bolttest"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		tweak func(*index.Config)
		want  string
	}{
		{"defaults", func(*index.Config) {}, ""},
		{"unknown vector store", func(c *index.Config) { c.VectorStore = "milvus" }, "vector_store"},
		{"unknown graph store", func(c *index.Config) { c.GraphStore = "arango" }, "graph_store"},
		{"qdrant without url", func(c *index.Config) { c.VectorStore, c.Qdrant.URL = "qdrant", "" }, "stages.index.qdrant.url"},
		{"neo4j with an http uri", func(c *index.Config) { c.GraphStore, c.Neo4j.URI = "neo4j", "http://n:7474" }, "stages.index.neo4j.uri"},
		{"template without tenant", func(c *index.Config) { c.CollectionTemplate = "posts_x" }, "{tenant_id}"},
	}
	for _, c := range cases {
		cfg := index.DefaultConfig()
		c.tweak(cfg)
		p := config.NewProblems("stages.index")
		cfg.Validate(p)
		err := p.Err()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
	cfg := index.DefaultConfig()
	env := map[string]string{"QDRANT_URL": "https://q:6334", "NEO4J_URI": "bolt://n:7687", "NEO4J_USER": "u", "NEO4J_PASSWORD": "p"}
	cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if cfg.Qdrant.URL != "https://q:6334" || cfg.Neo4j.URI != "bolt://n:7687" || cfg.Neo4j.User != "u" || cfg.Neo4j.Password != "p" {
		t.Errorf("env not applied: %+v %+v", cfg.Qdrant, cfg.Neo4j)
	}
}

// TestExternalBackends wires the stage to Qdrant and Neo4j from its
// configuration, against qdranttest (a FAKE Qdrant gRPC server) and
// bolttest (a Bolt STUB recording queries): constraints go out at start,
// a batch lands as points in the fake and one committed graph transaction.
func TestExternalBackends(t *testing.T) {
	t.Parallel()
	q := qdranttest.Start(t)
	b := bolttest.Start(t)
	b.User, b.Password = "neo4j", "pw"
	cfg := index.DefaultConfig()
	cfg.VectorStore, cfg.GraphStore = index.BackendQdrant, index.BackendNeo4j
	cfg.ApplyEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"QDRANT_URL": q.URL(), "NEO4J_URI": b.URI(), "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": "pw"}[k]
		return v, ok
	})
	e := newEnv(t, local.NewEmbedder(32), nil)
	stores, err := index.OpenStores(e.ctx, cfg, e.pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stores.Close)
	e.stage = e.newStage(t, func(o *index.Options) { o.Vectors, o.Graph = stores.Vectors, stores.Graph })
	if got := len(b.Queries()); got != len(neo4j.Schema) {
		t.Errorf("%d statements at start, want the %d schema statements", got, len(neo4j.Schema))
	}
	e.handle(t, corpusEvents(t, 20), 20)
	if _, n, _ := q.Collection("posts"); n != 20 {
		t.Errorf("qdrant points: %d", n)
	}
	var txs []bolttest.Tx
	for _, tx := range b.Transactions() {
		if len(tx.Queries) > 0 && strings.HasPrefix(tx.Queries[0].Text, "UNWIND") {
			txs = append(txs, tx)
		}
	}
	if len(txs) != 1 || !txs[0].Committed || len(txs[0].Queries) != 4 {
		t.Fatalf("%d graph write transactions, want one committed with 4 statements", len(txs))
	}
	if rows := txs[0].Queries[0].Params["rows"].([]any); len(rows) != 20 {
		t.Errorf("graph batch has %d posts", len(rows))
	}
	if err := e.stage.Check(e.ctx); err != nil {
		t.Errorf("check: %v", err)
	}
	b.Close()
	if err := e.stage.Check(e.ctx); err == nil || !strings.Contains(err.Error(), "graph store") {
		t.Errorf("check with neo4j gone = %v, want it to name the graph store", err)
	}
}

// TestValidateChecksEnvironmentAddresses: QDRANT_URL and NEO4J_URI override
// the section when the stage starts, so validation checks them, not the
// file's values they replace. (Not parallel: it sets the environment.)
func TestValidateChecksEnvironmentAddresses(t *testing.T) {
	t.Setenv("QDRANT_URL", "qdrant:6334")
	t.Setenv("NEO4J_URI", "http://neo4j:7474")
	cfg := index.DefaultConfig()
	cfg.VectorStore, cfg.GraphStore = index.BackendQdrant, index.BackendNeo4j
	p := config.NewProblems("stages.index")
	cfg.Validate(p)
	var keys []string
	for _, problem := range p.List() {
		keys = append(keys, problem.Key)
	}
	if want := []string{"stages.index.qdrant.url", "stages.index.neo4j.uri"}; !slices.Equal(keys, want) {
		t.Errorf("problems %v, want %v", p.List(), want)
	}
}
