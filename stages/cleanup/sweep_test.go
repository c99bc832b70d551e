package cleanup_test

import (
	"testing"
	"time"

	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/store/qdrant"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
)

// TestSweepEveryStore seeds 10,000 posts with mixed expires_at into real
// PostgreSQL (posts, post_enrichment, indexing_status, the embedded graph
// tables), the Qdrant FAKE (qdranttest: an in-process gRPC server speaking
// Qdrant's protocol, points in memory) and Redis dedup marks; one sweep
// leaves exactly the live posts in every store, removes the orphan tags,
// channels and pages, and keeps those a live post still uses.
func TestSweepEveryStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := qdranttest.Start(t)
	qs, err := qdrant.Open(qdrant.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = qs.Close() })
	e.vec = qs
	f := e.seed(t, 10000)
	qdrantIDs := func() []string {
		var out []string
		for _, p := range srv.Points("posts") {
			out = append(out, p.Payload["post_id"].GetStringValue())
		}
		return sortStrings(out)
	}
	if got := len(qdrantIDs()); got != 10000 {
		t.Fatalf("seeded %d points", got)
	}
	c := e.cleaner(t, cleanup.Config{SweepBatch: 500}, nil)
	res := sweepOnce(t, c, 10*time.Second)
	compareState(t, e.snapshot(t, qdrantIDs), e.want(f))
	expired := 3334 // i%3 == 0 for i < 10,000
	if res.Deleted[cleanup.StorePostgres] != expired || res.Deleted[cleanup.StoreGraph] != expired || res.Deleted[cleanup.StoreRedis] != expired {
		t.Errorf("deleted %v, want %d posts, graph posts and marks", res.Deleted, expired)
	}
	if res.Deleted[cleanup.StoreOrphans] != 7+10+20 {
		t.Errorf("orphans deleted %d, want 37 (7 channels, 10 tags, 20 pages)", res.Deleted[cleanup.StoreOrphans])
	}
	if v := e.metric(t, "cleanup_deleted_total", "store", "postgres"); v != float64(expired) {
		t.Errorf("cleanup_deleted_total{store=postgres} = %v", v)
	}
	if _, ok, _ := c.LoadCheckpoint(e.ctx); ok {
		t.Error("a finished sweep left its checkpoint")
	}
	// A second sweep finds nothing and starts fresh.
	res = sweepOnce(t, c, 10*time.Second)
	if res.Resumed != nil || res.Deleted[cleanup.StorePostgres] != 0 {
		t.Errorf("second sweep: resumed %v, deleted %v", res.Resumed, res.Deleted)
	}
}

// TestSweepEmbeddedStores is the same sweep with the default backends
// (PostgreSQL vectors and graph), smaller.
func TestSweepEmbeddedStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.seed(t, 1200)
	c := e.cleaner(t, cleanup.Config{SweepBatch: 100}, nil)
	plan, err := c.Plan(e.ctx, true, true, 5)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Posts != 400 || plan.VectorRows != 400 || plan.GraphPosts != 400 || len(plan.Sample) != 5 {
		t.Errorf("dry run = %+v, want 400 posts, points, graph posts", plan)
	}
	if n := len(e.ids(t, `SELECT post_id FROM posts`)); n != 1200 {
		t.Fatalf("dry run deleted: %d posts left", n)
	}
	sweepOnce(t, c, 10*time.Second)
	compareState(t, e.snapshot(t, e.pgVectorIDs(t)), e.want(f))
}
