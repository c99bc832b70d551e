package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// TestCleanupAndPostsDelete: `posts delete` publishes reason=admin events;
// `cleanup run --dry-run` counts expired posts without deleting them, and
// `cleanup run` deletes exactly those.
func TestCleanupAndPostsDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, prefix, dbURL, "")

	// a1 and b2 are in no store: looked up, they are refused (ops_test);
	// --force publishes without looking.
	code, out, stderr := runCLI(t, "posts", "delete", "--force", "a1", "b2", "--config", cfg)
	if code != 0 || !strings.Contains(out, "2 deletion(s)") {
		t.Fatalf("posts delete: %d %s %s", code, out, stderr)
	}
	entries, err := rdb.XRange(ctx, prefix+"posts.deleted", "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("posts.deleted holds %d entries: %v", len(entries), err)
	}
	for i, want := range []string{"a1", "b2"} {
		m := &pipeline.Message{Stream: "posts.deleted", ID: entries[i].ID, Values: entries[i].Values}
		var ev events.PostDeleted
		if err := m.Decode(&ev); err != nil || ev.PostID != want || ev.Reason != "admin" {
			t.Errorf("entry %d = %+v (%v)", i, ev, err)
		}
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now()
	if _, err := conn.Exec(ctx, `INSERT INTO posts (post_id, expires_at) VALUES ('old1', $1), ('old2', $1), ('new', $2)`,
		now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "cleanup", "run", "--dry-run", "--config", cfg)
	if code != 0 || !strings.Contains(out, "posts\t2\n") || !strings.Contains(out, "old1, old2") {
		t.Fatalf("dry run: %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "cleanup", "run", "--config", cfg)
	if code != 0 || !strings.Contains(out, "postgres\t2\n") {
		t.Fatalf("cleanup run: %d\n%s%s", code, out, stderr)
	}
	var left string
	if err := conn.QueryRow(ctx, `SELECT string_agg(post_id, ',') FROM posts`).Scan(&left); err != nil || left != "new" {
		t.Errorf("posts left: %q %v", left, err)
	}
}
