// Package migrations holds the PostgreSQL schema of the assistant daemon as
// plain goose SQL files (docs/tables.md), embedded in the binary so that
// `assistant migrate` and `run` with database.auto_migrate need nothing on
// disk. store/postgres applies them.
//
// Table names are unqualified on purpose: migrations land in the first
// schema of the connection's search_path, which is how tests get a private
// schema each.
package migrations

import "embed"

// FS holds the migration files, named <version>_<name>.sql.
//
//go:embed *.sql
var FS embed.FS
