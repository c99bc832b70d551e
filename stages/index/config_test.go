package index_test

import (
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/backends"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/neo4j/bolttest"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
)

// TestExternalBackends wires the stage to Qdrant and Neo4j opened from the
// stores: section, against qdranttest (a FAKE Qdrant gRPC server) and
// bolttest (a Bolt STUB recording queries): constraints go out at start,
// a batch lands as points in the fake and one committed graph transaction.
func TestExternalBackends(t *testing.T) {
	t.Parallel()
	q := qdranttest.Start(t)
	b := bolttest.Start(t)
	b.User, b.Password = "neo4j", "pw"
	cfg := store.DefaultConfig()
	cfg.Vector.Backend, cfg.Vector.Qdrant.URL = store.BackendQdrant, q.URL()
	cfg.Graph.Backend, cfg.Graph.Neo4j.URI, cfg.Graph.Neo4j.Password = store.BackendNeo4j, b.URI(), "pw"
	e := newEnv(t, local.NewEmbedder(32), nil)
	stores, err := backends.Open(e.ctx, cfg, e.pool)
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
