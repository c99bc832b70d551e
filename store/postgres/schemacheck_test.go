package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/postgres"
)

// TestCheckSchema: a migrated schema passes; one changed by hand after the
// migrations (a table renamed, a column dropped or retyped, an index
// dropped) or never migrated is refused with a *SchemaMismatchError naming
// every missing object; objects the migrations do not define are ignored.
func TestCheckSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		migrate bool
		change  string
		missing []string
	}{
		{"migrated", true, "", nil},
		{"an extra table is fine", true, "CREATE TABLE notes (id int)", nil},
		{"table renamed", true, "ALTER TABLE post_enrichment RENAME TO post_enrichment_old", []string{"table post_enrichment"}},
		{"column dropped", true, "ALTER TABLE posts DROP COLUMN expires_at", []string{
			"column posts.expires_at (timestamp with time zone)", "index posts_expires_at_idx"}},
		{"column retyped", true, "ALTER TABLE posts ALTER COLUMN content_hash TYPE bytea USING NULL", []string{
			"column posts.content_hash (text, found bytea)"}},
		{"index dropped", true, "DROP INDEX posts_tenant_id_idx", []string{"index posts_tenant_id_idx"}},
		{"never migrated", false, "", []string{"table posts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dbURL := testenv.Postgres(t)
			if tt.migrate {
				if err := postgres.MigrateUp(ctx, dbURL); err != nil {
					t.Fatal(err)
				}
			}
			if tt.change != "" {
				conn, err := pgx.Connect(ctx, dbURL)
				if err != nil {
					t.Fatal(err)
				}
				_, err = conn.Exec(ctx, tt.change)
				conn.Close(ctx)
				if err != nil {
					t.Fatal(err)
				}
			}
			err := postgres.CheckSchema(ctx, dbURL)
			var mismatch *postgres.SchemaMismatchError
			if tt.missing == nil {
				if err != nil {
					t.Fatalf("CheckSchema: %v", err)
				}
				return
			}
			if !errors.As(err, &mismatch) {
				t.Fatalf("CheckSchema = %v, want a *SchemaMismatchError", err)
			}
			if tt.migrate && !slices.Equal(mismatch.Missing, tt.missing) {
				t.Errorf("missing %q, want %q", mismatch.Missing, tt.missing)
			}
			if !tt.migrate && !slices.Contains(mismatch.Missing, tt.missing[0]) {
				t.Errorf("missing %q, want it to contain %q", mismatch.Missing, tt.missing[0])
			}
		})
	}
}

// TestCheckSchemaLeavesNothing: the scratch schema the expected shape is
// built in is rolled back.
func TestCheckSchemaLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Other tests' checks may be in flight, but their scratch schemas are
	// only visible inside their own transactions.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'assistant_schema_check_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d scratch schemas left behind", n)
	}
}
