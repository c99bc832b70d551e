package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestReindexRebuildsLostVectorsAndGraph (issue 20, item 3): posts stored
// and indexed by the full pipeline (local tagger and embedder, the embedded
// PostgreSQL vector and graph backends) lose every vector and graph node;
// `assistant reindex --dry-run` counts them and writes nothing; a reindex
// stopped by --limit and run again (resumed from its checkpoint) brings
// every vector, graph node and TAGGED_AS edge back through the running
// daemon's index stage, with no further tagger call and each post
// published exactly once.
func TestReindexRebuildsLostVectorsAndGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	stack.Stages = []string{"tag", "persist", "enrich", "index"}
	daemon := stack.Start(ctx, Options{Stages: stack.Stages})
	const n = 40
	if _, stderr, code := stack.run(ctx, nil, "ingest", "--limit", strconv.Itoa(n), testenv.SamplePath()); code != 0 {
		t.Fatalf("ingest exit %d: %s", code, stderr)
	}
	count := func(q string) int {
		t.Helper()
		got, err := stack.CountRows(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return got
	}
	const (
		vectors = `SELECT count(*) FROM vectors WHERE cardinality(embedding) > 0`
		nodes   = `SELECT count(*) FROM graph_posts`
		edges   = `SELECT count(*) FROM post_tags`
	)
	if !PollUntil(ctx, 2*time.Minute, 100*time.Millisecond, func() bool { return count(vectors) == n }) {
		t.Fatalf("%d vectors after ingest, want %d", count(vectors), n)
	}
	stack.WaitDrained(ctx, 90*time.Second)
	wantEdges := count(edges)
	if wantEdges == 0 {
		t.Fatal("no TAGGED_AS edge after ingest: the sample's posts should have tags")
	}
	m, err := daemon.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tagged := m.Value("tagging_processed_total")
	indexed := m.Value("indexing_processed_total", "status", "success")

	// The stores lose what the index stage wrote; indexing_status still
	// says completed with the same index_hash.
	conn, err := stack.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`DELETE FROM vectors`, `DELETE FROM post_tags`, `DELETE FROM post_links`, `DELETE FROM graph_posts`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	enriched := stack.Keys.Stream(stack.Streams.Enriched)
	// The trim job may drop acknowledged entries (even all of them); the
	// stream's count of entries ever added tells whether any was added.
	lastID := func() int64 {
		info, err := stack.Redis.XInfoStream(ctx, enriched).Result()
		if err != nil {
			t.Fatalf("XINFO STREAM %s: %v", enriched, err)
		}
		return info.EntriesAdded
	}
	before := lastID()
	out, stderr, code := stack.run(ctx, nil, "reindex", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, strconv.Itoa(n)+" posts would be re-indexed") {
		t.Fatalf("reindex --all --dry-run: exit %d, stdout %q\n%s", code, out, tail(stderr, 2000))
	}
	one := firstPostID(t, stack)
	if out, _, code := stack.run(ctx, nil, "reindex", "--post-id", one, "--dry-run"); code != 0 || !strings.Contains(out, "1 posts would be re-indexed") {
		t.Errorf("reindex --post-id %s --dry-run: exit %d, stdout %q", one, code, out)
	}
	channel, inChannel := firstChannel(t, stack)
	if out, _, code := stack.run(ctx, nil, "reindex", "--channel", channel, "--dry-run"); code != 0 || !strings.Contains(out, strconv.Itoa(inChannel)+" posts would be re-indexed") {
		t.Errorf("reindex --channel %s --dry-run: exit %d, stdout %q, want %d posts", channel, code, out, inChannel)
	}
	if out, _, code := stack.run(ctx, nil, "reindex", "--since", "2100-01-01T00:00:00Z", "--dry-run"); code != 0 || !strings.Contains(out, " 0 posts would be re-indexed") {
		t.Errorf("reindex --since 2100-01-01T00:00:00Z --dry-run: exit %d, stdout %q, want 0 posts", code, out)
	}
	if _, _, code := stack.run(ctx, nil, "reindex"); code != 1 {
		t.Errorf("reindex without a filter: exit %d, want 1", code)
	}
	if got := lastID(); got != before {
		t.Errorf("dry runs added %d posts.enriched entries", got-before)
	}
	if keys := stack.Redis.Keys(ctx, stack.Prefix+"reindex:*").Val(); len(keys) != 0 {
		t.Errorf("dry runs wrote %v", keys)
	}

	// Interrupted (--limit) and resumed.
	out, stderr, code = stack.run(ctx, nil, "reindex", "--all", "--limit", "15", "--batch", "10")
	if code != 0 || !strings.Contains(out, "15 of "+strconv.Itoa(n)+" posts published") || !strings.Contains(out, "limit reached") {
		t.Fatalf("reindex --limit 15: exit %d, stdout %q\n%s", code, out, tail(stderr, 2000))
	}
	out, stderr, code = stack.run(ctx, nil, "reindex", "--all", "--batch", "10")
	if code != 0 || !strings.Contains(out, strconv.Itoa(n-15)+" of "+strconv.Itoa(n-15)+" posts published") || !strings.Contains(out, "resumed") {
		t.Fatalf("resumed reindex: exit %d, stdout %q\n%s", code, out, tail(stderr, 2000))
	}
	if keys := stack.Redis.Keys(ctx, stack.Prefix+"reindex:*").Val(); len(keys) != 0 {
		t.Errorf("a completed reindex kept its checkpoint %v", keys)
	}

	if !PollUntil(ctx, 2*time.Minute, 100*time.Millisecond, func() bool {
		return count(vectors) == n && count(nodes) == n && count(edges) == wantEdges
	}) {
		t.Fatalf("after reindex: %d vectors, %d graph posts, %d TAGGED_AS edges; want %d, %d, %d",
			count(vectors), count(nodes), count(edges), n, n, wantEdges)
	}
	stack.WaitDrained(ctx, 90*time.Second)
	// The rebuilt vectors and graph nodes keep the stored post's expires_at.
	if got := count(`SELECT count(*) FROM posts p JOIN vectors v USING (post_id) JOIN graph_posts g USING (post_id)
		WHERE extract(epoch FROM p.expires_at)::bigint = v.expires_at AND p.expires_at = g.expires_at`); got != n {
		t.Errorf("posts whose expires_at agrees in all three stores after reindex: %d, want %d", got, n)
	}
	if m, err = daemon.Metrics(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.Value("tagging_processed_total"); got != tagged {
		t.Errorf("tagging_processed_total went from %v to %v: reindex reached the tagger", tagged, got)
	}
	// Each post published exactly once by the two runs together, and none
	// skipped as unchanged.
	if got := m.Value("indexing_processed_total", "status", "success") - indexed; got != n {
		t.Errorf("reindex indexed %v posts, want %d (each once)", got, n)
	}
	if got := m.Value("indexing_processed_total", "status", "skipped_unchanged"); got != 0 {
		t.Errorf("indexing_processed_total{status=skipped_unchanged} = %v: reindex entries were skipped", got)
	}

	// --retag has the tag stage tag a stored post again although the
	// dedup mark of its first tagging is still there.
	calls := func(m Metrics) float64 {
		return m.Value("tagging_processed_total") - m.Value("tagging_processed_total", "status", "dedup")
	}
	callsBefore := calls(m)
	if out, stderr, code := stack.run(ctx, nil, "reindex", "--retag", "--post-id", one); code != 0 || !strings.Contains(out, "1 of 1 posts published") {
		t.Fatalf("reindex --retag: exit %d, stdout %q\n%s", code, out, tail(stderr, 2000))
	}
	if !PollUntil(ctx, time.Minute, 100*time.Millisecond, func() bool {
		m, err = daemon.Metrics(ctx)
		return err == nil && calls(m) == callsBefore+1
	}) {
		t.Fatalf("tagger calls after reindex --retag of one post: %v, want %v", calls(m), callsBefore+1)
	}
	stack.WaitDrained(ctx, 90*time.Second)
	stack.RequireDLQsEmpty(ctx)
	daemon.Stop()
}

func firstPostID(t *testing.T, stack *Stack) string {
	t.Helper()
	conn, err := stack.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(context.Background(), `SELECT min(post_id) FROM posts`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func firstChannel(t *testing.T, stack *Stack) (string, int) {
	t.Helper()
	conn, err := stack.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var (
		id string
		n  int
	)
	if err := conn.QueryRow(context.Background(), `SELECT channel_id, count(*) FROM posts GROUP BY channel_id ORDER BY count(*) DESC, channel_id LIMIT 1`).Scan(&id, &n); err != nil {
		t.Fatal(err)
	}
	return id, n
}
