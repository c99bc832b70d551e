package cleanup_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/neo4j/bolttest"
)

// TestSweepNeo4j sweeps with the Neo4j backend against bolttest, a Bolt
// STUB (the official driver's wire protocol; it evaluates no Cypher). The
// test's responder keeps a set of Post nodes with their expires_at and
// applies the two deletions the store sends — by id, and by expires_at with
// a LIMIT — from their parameters, so that what the sweep asks of Neo4j is
// checked end to end: the expired posts of the posts table go by id, the
// expired graph-only posts by the range query, in bounded batches, and the
// live ones stay.
func TestSweepNeo4j(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.seed(t, 300)
	srv := bolttest.Start(t)
	var mu sync.Mutex
	nodes := map[string]int64{} // post_id -> expires_at (unix s)
	for i := 0; i < f.n; i++ {
		exp := e.now.Add(time.Hour)
		if f.expired(i) {
			exp = e.now.Add(-time.Hour)
		}
		nodes[postID(i)] = exp.Unix()
	}
	for i := 0; i < 25; i++ { // indexed but never persisted
		nodes[fmt.Sprintf("graph-only-%d", i)] = e.now.Add(-2 * time.Hour).Unix()
	}
	maxLimit := int64(0)
	srv.SetResponder(func(q bolttest.Query) bolttest.Result {
		mu.Lock()
		defer mu.Unlock()
		n := int64(0)
		switch {
		case strings.Contains(q.Text, "p.post_id IN $ids"):
			for _, id := range q.Params["ids"].([]any) {
				if _, ok := nodes[id.(string)]; ok {
					delete(nodes, id.(string))
					n++
				}
			}
		case strings.Contains(q.Text, "p.expires_at < $before"):
			limit := q.Params["limit"].(int64)
			maxLimit = max(maxLimit, limit)
			var ids []string
			for id, exp := range nodes {
				if exp < q.Params["before"].(int64) {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids)
			for _, id := range ids[:min(int64(len(ids)), limit)] {
				delete(nodes, id)
				n++
			}
		case strings.Contains(q.Text, "count(*) AS n"):
		default:
			return bolttest.Result{}
		}
		return bolttest.Result{Columns: []string{"n"}, Rows: [][]any{{n}}}
	})
	g, err := neo4j.Open(neo4j.Config{URI: srv.URI()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(e.ctx) })
	e.graph = g
	c := e.cleaner(t, cleanup.Config{SweepBatch: 10}, nil)
	res := sweepOnce(t, c, 10*time.Second)

	mu.Lock()
	defer mu.Unlock()
	var left []string
	for id := range nodes {
		left = append(left, id)
	}
	slices.Sort(left)
	want := e.want(f)["posts"]
	if !slices.Equal(left, want) {
		t.Errorf("Neo4j holds %d posts, want the %d live ones", len(left), len(want))
	}
	if res.Deleted[cleanup.StoreGraph] != 100+25 {
		t.Errorf("graph posts deleted %d, want 125 (100 by id, 25 by expires_at)", res.Deleted[cleanup.StoreGraph])
	}
	if maxLimit != 10 {
		t.Errorf("range deletes asked for LIMIT %d, want sweep_batch 10", maxLimit)
	}
}
