package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/all"
	"github.com/assistant-dev/assistant/store/postgres"
)

// TestRunRefusesChangedSchema: with post_enrichment renamed after the
// migrations, `run --stages=persist` exits at start with an error naming
// the table, and no entry of posts.tagged waiting for it is read.
func TestRunRefusesChangedSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `ALTER TABLE post_enrichment RENAME TO post_enrichment_old`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	stream := prefix + "posts.tagged"
	for i := range 3 {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"data": `{"post_id":"p` + string(rune('0'+i)) + `"}`}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdout: &stdout, stderr: &stderr}
	code := a.execute(ctx, []string{"run", "--config", testConfig(t, prefix, dbURL, ""), "--stages=persist"})
	if ctx.Err() != nil {
		t.Fatalf("run did not refuse to start (still running after 20s); log:\n%s", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if code == 0 || !strings.Contains(last, "does not match the migrations") || !strings.Contains(last, "table post_enrichment") {
		t.Fatalf("exit %d, last line %q: want a refusal naming post_enrichment", code, last)
	}
	groups, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.EntriesRead > 0 || g.Pending > 0 {
			t.Errorf("group %s read %d entries (%d pending) although the schema was refused", g.Name, g.EntriesRead, g.Pending)
		}
	}
}
