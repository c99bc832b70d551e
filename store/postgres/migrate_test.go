package postgres_test

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/migrations"
	"github.com/assistant-dev/assistant/store/postgres"
)

// tablesIn lists the tables of the connection's own schema (the test's).
func tablesIn(t *testing.T, ctx context.Context, dbURL string) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)

	statuses, err := postgres.MigrateStatus(ctx, dbURL)
	if err != nil {
		t.Fatalf("status on an empty schema: %v", err)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != len(files) || len(files) < 3 {
		t.Fatalf("status lists %d migrations, want %d: %+v", len(statuses), len(files), statuses)
	}
	for _, s := range statuses {
		if s.Applied {
			t.Errorf("%s applied on an empty schema", s.Name)
		}
	}

	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("up: %v", err)
	}
	tables := tablesIn(t, ctx, dbURL)
	// goose_db_version in the test's schema proves goose followed search_path.
	for _, want := range []string{"posts", "post_enrichment", "indexing_status", "goose_db_version"} {
		if !tables[want] {
			t.Errorf("after up, table %s is not in the test schema (have %v)", want, tables)
		}
	}
	statuses, err = postgres.MigrateStatus(ctx, dbURL)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for i, s := range statuses {
		if !s.Applied || s.AppliedAt.IsZero() {
			t.Errorf("after up, %s: applied=%v at %v", s.Name, s.Applied, s.AppliedAt)
		}
		if i > 0 && s.Version <= statuses[i-1].Version {
			t.Errorf("migration %d has version %d, not above %d", i, s.Version, statuses[i-1].Version)
		}
	}
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("up again with nothing pending: %v", err)
	}

	// Down is one step: only the newest migration is undone. Every
	// migration down to 00003 is undone first; then indexing_status goes.
	for i := len(statuses) - 1; i >= 2; i-- {
		if err := postgres.MigrateDown(ctx, dbURL); err != nil {
			t.Fatalf("down: %v", err)
		}
		after, err := postgres.MigrateStatus(ctx, dbURL)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		for j, st := range after {
			if st.Applied != (j < i) {
				t.Errorf("after undoing %s, %s applied=%v", statuses[i].Name, st.Name, st.Applied)
			}
		}
	}
	// Down to the first two migrations: indexing_status (00003) is gone,
	// posts and post_enrichment stay.
	tables = tablesIn(t, ctx, dbURL)
	if tables["indexing_status"] || !tables["post_enrichment"] || !tables["posts"] || tables["vectors"] || tables["post_tags"] {
		t.Errorf("down to two migrations, tables are %v", tables)
	}

	for range 2 {
		if err := postgres.MigrateDown(ctx, dbURL); err != nil {
			t.Fatalf("down: %v", err)
		}
	}
	tables = tablesIn(t, ctx, dbURL)
	if len(tables) != 1 || !tables["goose_db_version"] {
		t.Errorf("after every down, tables are %v", tables)
	}
	if err := postgres.MigrateDown(ctx, dbURL); err == nil {
		t.Error("down with nothing applied succeeded")
	}

	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	tables = tablesIn(t, ctx, dbURL)
	for _, want := range []string{"posts", "post_enrichment", "indexing_status"} {
		if !tables[want] {
			t.Errorf("after up again, table %s is missing", want)
		}
	}
}

func TestMigrationConstraints(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("up: %v", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)

	tests := []struct {
		name    string
		sql     string
		wantErr bool
	}{
		{"enrichment without a post (no foreign key)", `INSERT INTO post_enrichment (post_id, kind) VALUES ('p1', 'crawl')`, false},
		{"unknown kind", `INSERT INTO post_enrichment (post_id, kind) VALUES ('p2', 'summary')`, true},
		{"unknown status", `INSERT INTO post_enrichment (post_id, kind, status) VALUES ('p3', 'tags', 'done')`, true},
		{"indexing status row", `INSERT INTO indexing_status (post_id, graph_status) VALUES ('p1', 'skipped')`, false},
		{"unknown graph status", `INSERT INTO indexing_status (post_id, graph_status) VALUES ('p4', 'done')`, true},
		{"unknown embedding status", `INSERT INTO indexing_status (post_id, embedding_status) VALUES ('p5', 'ok')`, true},
	}
	for _, tt := range tests {
		_, err := conn.Exec(ctx, tt.sql)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if tt.wantErr && !postgres.IsDataError(err) {
			t.Errorf("%s: %v is not classified as a data error", tt.name, err)
		}
	}
}
