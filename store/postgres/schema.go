package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// applySchema makes schema the search_path of every connection made with
// cfg, unless the URL already sets search_path (tests and benchmarks give
// each run a private schema that way, and an explicit URL parameter is the
// more specific of the two settings). It is a startup parameter, so it holds
// on every pooled connection from its first statement on, with no extra
// round trip.
func applySchema(cfg *pgx.ConnConfig, schema string) {
	if schema == "" || cfg.RuntimeParams["search_path"] != "" {
		return
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
}

// targetSchema is the schema that unqualified CREATE TABLE statements of a
// session land in, and whether it exists: current_schema() when some schema
// of the search_path exists, else the first schema the search_path names
// (other than "$user"), which the migrations create.
func targetSchema(ctx context.Context, db *sql.DB) (name string, exists bool, err error) {
	var current sql.NullString
	var path string
	if err := db.QueryRowContext(ctx, "SELECT current_schema(), current_setting('search_path')").Scan(&current, &path); err != nil {
		return "", false, fmt.Errorf("connect to postgres: %w", err)
	}
	if current.Valid {
		return current.String, true, nil
	}
	for _, item := range splitSearchPath(path) {
		if item != "$user" {
			return item, false, nil
		}
	}
	return "", false, fmt.Errorf("search_path %q names no schema to create", path)
}

// splitSearchPath splits a search_path setting into schema names, removing
// the double quotes of quoted identifiers (and undoubling "" inside them).
func splitSearchPath(path string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case quoted && c == '"' && i+1 < len(path) && path[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		case !quoted && (c == ' ' || c == '\t'):
			// whitespace between items; quoted names keep theirs
		default:
			cur.WriteByte(c)
		}
	}
	if s := cur.String(); s != "" || len(out) > 0 {
		out = append(out, s)
	}
	return out
}

// schemaRelations lists the tables, views and foreign tables in schema,
// sorted by name.
func schemaRelations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, schema string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname`, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables of schema %s: %w", schema, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of schema %s: %w", schema, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of schema %s: %w", schema, err)
	}
	return names, nil
}

// ForeignTablesError is the refusal of the migrations to touch a schema
// that holds tables they did not create.
type ForeignTablesError struct {
	Schema string
	Tables []string
}

func (e *ForeignTablesError) Error() string {
	return fmt.Sprintf("schema %q holds tables the migrations did not create (%s); nothing was changed: "+
		"give the daemon a schema of its own with database.schema (default \"assistant\")",
		e.Schema, strings.Join(e.Tables, ", "))
}

// errSchemaMissing is returned by Open when the configured schema does not
// exist: the migrations were never applied there.
var errSchemaMissing = errors.New("no schema of the search_path exists")
