package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/migrations"
)

// SchemaMismatchError is the refusal to start on a schema that differs from
// what the migrations define: tables, columns (with their types) or indexes
// missing. Objects the migrations do not define are not looked at.
type SchemaMismatchError struct {
	Schema string
	// Missing names each object the migrations define that the schema
	// lacks or has differently: "table post_enrichment",
	// "column posts.tags_hash (bytea)", "index posts_expires_at_idx".
	Missing []string
}

func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("database schema %q does not match the migrations: missing %s "+
		"(apply them with `assistant migrate up`, or repair what was changed by hand)",
		e.Schema, strings.Join(e.Missing, ", "))
}

// catalog is the shape of a schema: its tables, columns with their types,
// and indexes.
type catalog struct {
	tables  map[string]bool
	columns map[string]string // "table.column" -> type
	indexes map[string]string // index -> table
}

// CheckSchema compares the daemon's schema (database.schema, or the URL's
// search_path) with what the embedded migrations define and returns a
// *SchemaMismatchError naming every table, column and index that is
// missing or of another type. The expected shape comes from the migrations
// themselves, applied to a scratch schema inside a transaction that is
// rolled back, so it cannot drift from them and leaves nothing behind.
func CheckSchema(ctx context.Context, dbURL string, opts ...MigrateOption) error {
	o := migrateOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := openSQL(dbURL, o.schema, "-schema-check")
	if err != nil {
		return err
	}
	defer db.Close()

	schema, exists, err := targetSchema(ctx, db)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	want, err := migratedCatalog(ctx, db)
	if err != nil {
		return err
	}
	var have catalog
	if exists {
		if have, err = readCatalog(ctx, db, schema); err != nil {
			return err
		}
	}
	if missing := want.missingFrom(have); len(missing) > 0 {
		return &SchemaMismatchError{Schema: schema, Missing: missing}
	}
	return nil
}

// missingFrom lists what c has that have lacks: a missing table once (not
// each of its columns and indexes), then missing or retyped columns, then
// missing indexes.
func (c catalog) missingFrom(have catalog) []string {
	var out []string
	for _, t := range catalogKeys(c.tables) {
		if !have.tables[t] {
			out = append(out, "table "+t)
		}
	}
	for _, col := range catalogKeys(c.columns) {
		table, _, _ := strings.Cut(col, ".")
		if !have.tables[table] {
			continue
		}
		if got, ok := have.columns[col]; !ok {
			out = append(out, fmt.Sprintf("column %s (%s)", col, c.columns[col]))
		} else if got != c.columns[col] {
			out = append(out, fmt.Sprintf("column %s (%s, found %s)", col, c.columns[col], got))
		}
	}
	for _, idx := range catalogKeys(c.indexes) {
		if have.tables[c.indexes[idx]] {
			if _, ok := have.indexes[idx]; !ok {
				out = append(out, "index "+idx)
			}
		}
	}
	return out
}

func catalogKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// migratedCatalog applies the Up part of every embedded migration to a
// scratch schema in a transaction, reads its catalog and rolls back.
func migratedCatalog(ctx context.Context, db *sql.DB) (catalog, error) {
	ups, err := upScripts()
	if err != nil {
		return catalog{}, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	scratch := "assistant_schema_check_" + hex.EncodeToString(b)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return catalog{}, fmt.Errorf("check schema: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ident := pgx.Identifier{scratch}.Sanitize()
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+ident); err != nil {
		return catalog{}, fmt.Errorf("check schema: create scratch schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+ident); err != nil {
		return catalog{}, fmt.Errorf("check schema: %w", err)
	}
	for _, up := range ups {
		// Without arguments the statement goes as a simple query, so a
		// file's several statements run in one round trip.
		if _, err := tx.ExecContext(ctx, up.sql); err != nil {
			return catalog{}, fmt.Errorf("check schema: apply %s to a scratch schema: %w", up.name, err)
		}
	}
	return readCatalog(ctx, tx, scratch)
}

type upScript struct{ name, sql string }

// upScripts returns the "-- +goose Up" part of each migration, in order.
// The goose annotations are SQL comments, so the part runs as it is.
func upScripts() ([]upScript, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	var out []upScript
	for _, name := range names {
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		up, _, _ := strings.Cut(string(body), "-- +goose Down")
		out = append(out, upScript{name: name, sql: up})
	}
	return out, nil
}

// readCatalog reads the tables, columns and indexes of schema.
func readCatalog(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, schema string) (catalog, error) {
	c := catalog{tables: map[string]bool{}, columns: map[string]string{}, indexes: map[string]string{}}
	rows, err := q.QueryContext(ctx, `
SELECT c.relname, COALESCE(a.attname, ''), COALESCE(format_type(a.atttypid, a.atttypmod), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, schema)
	if err != nil {
		return catalog{}, fmt.Errorf("read columns of schema %s: %w", schema, err)
	}
	for rows.Next() {
		var table, column, typ string
		if err := rows.Scan(&table, &column, &typ); err != nil {
			rows.Close()
			return catalog{}, fmt.Errorf("read columns of schema %s: %w", schema, err)
		}
		c.tables[table] = true
		if column != "" {
			c.columns[table+"."+column] = typ
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return catalog{}, fmt.Errorf("read columns of schema %s: %w", schema, err)
	}
	delete(c.tables, versionTable)
	for k := range c.columns {
		if strings.HasPrefix(k, versionTable+".") {
			delete(c.columns, k)
		}
	}
	rows, err = q.QueryContext(ctx, `SELECT indexname, tablename FROM pg_indexes WHERE schemaname = $1`, schema)
	if err != nil {
		return catalog{}, fmt.Errorf("read indexes of schema %s: %w", schema, err)
	}
	defer rows.Close()
	for rows.Next() {
		var index, table string
		if err := rows.Scan(&index, &table); err != nil {
			return catalog{}, fmt.Errorf("read indexes of schema %s: %w", schema, err)
		}
		if table != versionTable {
			c.indexes[index] = table
		}
	}
	if err := rows.Err(); err != nil {
		return catalog{}, fmt.Errorf("read indexes of schema %s: %w", schema, err)
	}
	return c, nil
}
