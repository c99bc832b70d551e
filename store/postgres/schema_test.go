package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/postgres"
)

// oldSystemDDL is the old Python system's schema (testdata/legacy).
func oldSystemDDL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "legacy", "old_schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// relations lists the tables of schema.
func relations(t *testing.T, ctx context.Context, schema string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// withoutSearchPath is dbURL without its search_path parameter: a database
// URL as an operator writes it, so that database.schema decides.
func withoutSearchPath(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// TestMigrateRefusesForeignTables points the migrations at a schema holding
// the old system's posts and post_enrichment (as the old database's public
// schema does): they refuse, naming the tables, and change nothing — no
// goose_db_version, no table, the old rows untouched. With database.schema
// naming a schema of our own they are applied beside the old tables, and
// the pool opened with that setting reads our tables, not the old ones.
func TestMigrateRefusesForeignTables(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oldURL := testenv.Postgres(t) // stands for the old database's public schema
	oldSchema, _ := url.Parse(oldURL)
	old := oldSchema.Query().Get("search_path")
	conn, err := pgx.Connect(ctx, oldURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, oldSystemDDL(t)); err != nil {
		t.Fatalf("old DDL: %v", err)
	}
	if _, err := conn.Exec(ctx, `
INSERT INTO channels (id, tg_channel_id, title) VALUES ('6f1c1f3e-0d7a-4d38-9a57-3d1f8c2e0a11', -1001, 'old');
INSERT INTO posts (id, channel_id, telegram_message_id, content) VALUES
    ('0b7a3c8e-5d1f-4c2a-9e6b-7f8d9a0b1c2d', '6f1c1f3e-0d7a-4d38-9a57-3d1f8c2e0a11', 1, 'old post')`); err != nil {
		t.Fatal(err)
	}
	before := relations(t, ctx, old)

	for _, run := range []struct {
		name string
		fn   func() error
	}{
		{"up", func() error { return postgres.MigrateUp(ctx, oldURL) }},
		{"up with the schema named explicitly", func() error {
			return postgres.MigrateUp(ctx, withoutSearchPath(t, oldURL), postgres.InSchema(old))
		}},
	} {
		err := run.fn()
		var foreign *postgres.ForeignTablesError
		if !errors.As(err, &foreign) {
			t.Fatalf("%s on the old schema: err = %v, want a ForeignTablesError", run.name, err)
		}
		for _, name := range []string{"posts", "post_enrichment", "channels"} {
			if !slices.Contains(foreign.Tables, name) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: refusal %q does not name %s", run.name, err, name)
			}
		}
		if !strings.Contains(err.Error(), "database.schema") {
			t.Errorf("%s: refusal %q does not say how to fix it", run.name, err)
		}
		if after := relations(t, ctx, old); !slices.Equal(after, before) {
			t.Errorf("%s: the refused migration changed the schema: %v -> %v", run.name, before, after)
		}
	}
	// Status reads, never writes: not even goose_db_version appears.
	statuses, err := postgres.MigrateStatus(ctx, oldURL)
	if err != nil {
		t.Fatalf("status on the old schema: %v", err)
	}
	for _, s := range statuses {
		if s.Applied {
			t.Errorf("status: %s applied on the old schema", s.Name)
		}
	}
	if after := relations(t, ctx, old); !slices.Equal(after, before) {
		t.Errorf("status changed the schema: %v -> %v", before, after)
	}
	// Down has nothing to undo and must not create anything either.
	if err := postgres.MigrateDown(ctx, oldURL); err == nil || !strings.Contains(err.Error(), "no migration is applied") {
		t.Errorf("down on the old schema: %v", err)
	}
	if after := relations(t, ctx, old); !slices.Equal(after, before) {
		t.Errorf("down changed the schema: %v -> %v", before, after)
	}

	// database.schema set to a schema of our own, in the same database:
	// the schema is created and the migrations go there, beside the old
	// tables.
	ours := testenv.SchemaName(t)
	plainURL := withoutSearchPath(t, oldURL)
	if err := postgres.MigrateUp(ctx, plainURL, postgres.InSchema(ours)); err != nil {
		t.Fatalf("up in our own schema: %v", err)
	}
	got := relations(t, ctx, ours)
	for _, want := range []string{"goose_db_version", "posts", "post_enrichment", "indexing_status"} {
		if !slices.Contains(got, want) {
			t.Errorf("our schema lacks %s: %v", want, got)
		}
	}
	if after := relations(t, ctx, old); !slices.Equal(after, before) {
		t.Errorf("migrating our schema changed the old one: %v -> %v", before, after)
	}
	if err := postgres.MigrateUp(ctx, plainURL, postgres.InSchema(ours)); err != nil {
		t.Fatalf("up again in our own schema: %v", err)
	}

	// The pool follows database.schema: posts is ours (post_id), not the
	// old one (id).
	pool, err := postgres.Open(ctx, config.Database{URL: plainURL, Schema: ours, MaxConns: 2})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(post_id) FROM posts`).Scan(&n); err != nil {
		t.Fatalf("query our posts through the pool: %v", err)
	}
	if n != 0 {
		t.Errorf("our posts has %d rows, want 0", n)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema != ours {
		t.Errorf("pool's current_schema = %q (%v), want %q", schema, err, ours)
	}
}

// TestMigrateRefusesTableOfPendingMigration covers a schema that is ours
// (goose_db_version is there) where someone created a table a pending
// migration is about to create: refused by name before anything runs.
func TestMigrateRefusesTableOfPendingMigration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	all, err := postgres.MigrateStatus(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// Down to 00002: indexing_status (00003) and everything after it go.
	for range len(all) - 2 {
		if err := postgres.MigrateDown(ctx, dbURL); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE indexing_status (id int)`); err != nil {
		t.Fatal(err)
	}
	// An unrelated table of our own making (an operator's, or one a stage
	// creates at run time) does not block anything.
	if _, err := conn.Exec(ctx, `CREATE TABLE operator_notes (id int)`); err != nil {
		t.Fatal(err)
	}
	err = postgres.MigrateUp(ctx, dbURL)
	var foreign *postgres.ForeignTablesError
	if !errors.As(err, &foreign) || !slices.Equal(foreign.Tables, []string{"indexing_status"}) {
		t.Fatalf("up over a foreign indexing_status: err = %v, want a refusal naming only indexing_status", err)
	}
	statuses, err := postgres.MigrateStatus(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range statuses[2:] {
		if st.Applied {
			t.Errorf("%s was applied despite the refusal", st.Name)
		}
	}
	if _, err := conn.Exec(ctx, `DROP TABLE indexing_status`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("up after the foreign table is gone: %v", err)
	}
}

// TestOpenMissingSchema: a pool on a schema that does not exist (the
// migrations never ran, auto_migrate off) fails at once with what to do,
// instead of every batch failing on a missing table.
func TestOpenMissingSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, config.Database{URL: testenv.DatabaseURL(), Schema: testenv.SchemaName(t), MaxConns: 1})
	if err == nil || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("open on a missing schema: err = %v, want one that says to migrate", err)
	}
}
