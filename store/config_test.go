package store_test

import (
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/store"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		tweak func(*store.Config)
		want  string // a key the error names; "" for none
	}{
		{"defaults", func(*store.Config) {}, ""},
		{"unknown vector store", func(c *store.Config) { c.Vector.Backend = "milvus" }, "stores.vector.backend"},
		{"unknown graph store", func(c *store.Config) { c.Graph.Backend = "arango" }, "stores.graph.backend"},
		{"qdrant without url", func(c *store.Config) { c.Vector.Backend, c.Vector.Qdrant.URL = "qdrant", "" }, "stores.vector.qdrant.url"},
		{"qdrant url unchecked when postgres", func(c *store.Config) { c.Vector.Qdrant.URL = "" }, ""},
		{"neo4j with an http uri", func(c *store.Config) { c.Graph.Backend, c.Graph.Neo4j.URI = "neo4j", "http://n:7474" }, "stores.graph.neo4j.uri"},
		{"empty collection", func(c *store.Config) { c.Vector.Collection = "" }, "stores.vector.collection"},
		{"template without tenant", func(c *store.Config) { c.Vector.CollectionTemplate = "posts_x" }, "{tenant_id}"},
	}
	for _, c := range cases {
		cfg := store.DefaultConfig()
		c.tweak(&cfg)
		p := config.NewProblems("stores")
		cfg.Validate(p)
		err := p.Err()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}
