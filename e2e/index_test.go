package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestFullPipelineIndexesEveryPost runs the real binary with
// `run --stages=tag,persist,enrich,index` (local tagger and embedder, the
// embedded PostgreSQL vector and graph backends) over the 500-post sample
// and proves that every post ends indexed: one indexing_status row with
// both statuses completed and a vector id, exactly one vector of the
// embedder's size, its graph node with its channel and exactly the tags
// persist stored as TAGGED_AS edges, and exactly one posts.indexed entry;
// with no dead letter anywhere. Enrich runs with crawling off (the tests
// reach no real site), so it publishes every post as skipped.
func TestFullPipelineIndexesEveryPost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	stack.Stages = []string{"tag", "persist", "enrich", "index"}
	daemon := stack.Start(ctx, Options{Stages: stack.Stages})

	posts := testenv.SamplePosts(t, 0)
	stack.Ingest(ctx, testenv.SamplePath())
	indexed := stack.Keys.Stream(stack.Streams.Indexed)
	if !PollUntil(ctx, 3*time.Minute, 100*time.Millisecond, func() bool {
		return stack.Redis.XLen(ctx, indexed).Val() >= int64(len(posts))
	}) {
		t.Fatalf("posts.indexed holds %d entries, want %d", stack.Redis.XLen(ctx, indexed).Val(), len(posts))
	}
	stack.WaitDrained(ctx, 90*time.Second)

	// One posts.indexed per post, each with the spec's fields.
	entries, err := stack.Redis.XRange(ctx, indexed, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range entries {
		var ev struct {
			PostID         string         `json:"post_id"`
			VectorID       string         `json:"vector_id"`
			Collection     string         `json:"collection"`
			EmbeddingModel string         `json:"embedding_model"`
			EmbeddingDim   int            `json:"embedding_dim"`
			Graph          map[string]int `json:"graph"`
		}
		data, _ := e.Values["data"].(string)
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("posts.indexed entry %s: %v", e.ID, err)
		}
		if ev.VectorID == "" || ev.Collection == "" || ev.EmbeddingModel == "" || ev.EmbeddingDim <= 0 || ev.Graph == nil {
			t.Errorf("posts.indexed for %s lacks fields: %s", ev.PostID, data)
		}
		seen[ev.PostID]++
	}

	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	snap, err := stack.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		id := postIDOf(p)
		if seen[id] != 1 {
			t.Errorf("post %s: %d posts.indexed entries, want 1", id, seen[id])
		}
		var emb, graph, vectorID string
		if err := conn.QueryRow(ctx, `SELECT embedding_status, graph_status, COALESCE(vector_id, '') FROM indexing_status WHERE post_id = $1`, id).Scan(&emb, &graph, &vectorID); err != nil {
			t.Errorf("post %s: indexing_status: %v", id, err)
			continue
		}
		if emb != "completed" || graph != "completed" || vectorID == "" {
			t.Errorf("post %s: indexing_status %s/%s vector %q, want completed/completed with a vector", id, emb, graph, vectorID)
		}
		if n := count(`SELECT count(*) FROM vectors WHERE post_id = $1 AND cardinality(embedding) > 0`, id); n != 1 {
			t.Errorf("post %s: %d vectors, want 1", id, n)
		}
		if n := count(`SELECT count(*) FROM graph_posts WHERE post_id = $1 AND channel_id = $2`, id, channelIDOf(p)); n != 1 {
			t.Errorf("post %s: %d graph nodes in channel %s, want 1", id, n, channelIDOf(p))
		}
		var edges []string
		rows, err := conn.Query(ctx, `SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag`, id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tag string
			if err := rows.Scan(&tag); err != nil {
				t.Fatal(err)
			}
			edges = append(edges, tag)
		}
		rows.Close()
		if want := sortedLower(snap.Tags[id].Tags); strings.Join(sortedLower(edges), "|") != strings.Join(want, "|") {
			t.Errorf("post %s: TAGGED_AS %q, stored tags %q", id, edges, snap.Tags[id].Tags)
		}
	}
	if n := count(`SELECT count(DISTINCT cardinality(embedding)) FROM vectors`); n != 1 {
		t.Errorf("vectors of %d different sizes", n)
	}
	stack.RequireDLQsEmpty(ctx)
	daemon.Stop()
}

// sortedLower is a set of tags compared without regard to case (the graph
// keeps one Tag node per name).
func sortedLower(tags []string) []string {
	set := map[string]bool{}
	for _, t := range tags {
		set[strings.ToLower(t)] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
