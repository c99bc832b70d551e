package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/assistant-dev/assistant/migrations"
)

// versionTable is goose's bookkeeping table; it lives in the daemon's
// schema beside the tables.
const versionTable = "goose_db_version"

// MigrationStatus is the state of one embedded migration in a database.
type MigrationStatus struct {
	Version int64
	// Name is the migration's file name, e.g. 00001_posts.sql.
	Name string
	// Applied is false for a migration still pending.
	Applied bool
	// AppliedAt is when it was applied; zero when pending.
	AppliedAt time.Time
}

// MigrateOption adjusts where the migrations run.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	schema      string
	lockTimeout time.Duration
}

// InSchema runs the migrations in schema (database.schema): it becomes the
// connections' search_path unless the URL sets one, and MigrateUp creates
// it when it is missing.
func InSchema(schema string) MigrateOption {
	return func(o *migrateOptions) { o.schema = schema }
}

// MigrateUp applies every pending migration. It creates the target schema
// when it is missing, and refuses — before changing anything — a schema that
// holds tables the migrations did not create (*ForeignTablesError): a
// database shared with another application keeps its tables, and no
// half-applied migration or stray goose_db_version is left behind.
func MigrateUp(ctx context.Context, dbURL string, opts ...MigrateOption) error {
	return withMigrator(ctx, dbURL, opts, func(m *migrator) error {
		return m.locked(ctx, func() error {
			if m.exists {
				if err := m.refuseForeign(ctx); err != nil {
					return err
				}
			} else {
				if _, err := m.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{m.schema}.Sanitize()); err != nil {
					return fmt.Errorf("create schema %s: %w", m.schema, err)
				}
				slog.InfoContext(ctx, "database schema created", slog.String("schema", m.schema))
			}
			results, err := m.provider.Up(ctx)
			for _, r := range results {
				slog.InfoContext(ctx, "migration applied", slog.String("migration", r.Source.Path),
					slog.String("schema", m.schema), slog.String("direction", r.Direction), slog.Duration("took", r.Duration))
			}
			if err != nil {
				return fmt.Errorf("apply migrations: %w", err)
			}
			return nil
		})
	})
}

// MigrateDown rolls back the most recently applied migration (one step).
func MigrateDown(ctx context.Context, dbURL string, opts ...MigrateOption) error {
	return withMigrator(ctx, dbURL, opts, func(m *migrator) error {
		return m.locked(ctx, func() error {
			noneApplied := errors.New("roll back migration: no migration is applied")
			if ok, err := m.hasVersionTable(ctx); err != nil {
				return err
			} else if !ok {
				return noneApplied
			}
			r, err := m.provider.Down(ctx)
			if err != nil {
				if errors.Is(err, goose.ErrNoNextVersion) {
					return noneApplied
				}
				return fmt.Errorf("roll back migration: %w", err)
			}
			slog.InfoContext(ctx, "migration rolled back", slog.String("migration", r.Source.Path),
				slog.String("schema", m.schema), slog.Duration("took", r.Duration))
			return nil
		})
	})
}

// MigrateStatus lists every embedded migration with its state, oldest
// first. It changes nothing: a missing schema or version table means every
// migration is pending.
func MigrateStatus(ctx context.Context, dbURL string, opts ...MigrateOption) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := withMigrator(ctx, dbURL, opts, func(m *migrator) error {
		ok, err := m.hasVersionTable(ctx)
		if err != nil {
			return err
		}
		if !ok {
			for _, s := range m.provider.ListSources() {
				out = append(out, MigrationStatus{Version: s.Version, Name: s.Path})
			}
			return nil
		}
		statuses, err := m.provider.Status(ctx)
		if err != nil {
			return fmt.Errorf("read migration status: %w", err)
		}
		out = make([]MigrationStatus, 0, len(statuses))
		for _, s := range statuses {
			out = append(out, MigrationStatus{
				Version:   s.Source.Version,
				Name:      s.Source.Path,
				Applied:   s.State == goose.StateApplied,
				AppliedAt: s.AppliedAt,
			})
		}
		return nil
	})
	return out, err
}

// migrator is one migration run: a database/sql handle (goose speaks
// database/sql), the schema it targets and a goose provider over the
// embedded files.
type migrator struct {
	db       *sql.DB
	schema   string
	exists   bool
	database string
	provider *goose.Provider
	opts     migrateOptions
}

// openSQL opens a database/sql handle (what goose and the schema check
// use) on dbURL, in schema when one is given, named in pg_stat_activity as
// DefaultApplicationName+role unless the URL names itself. The parse error
// does not quote the URL: it may hold a password.
func openSQL(dbURL, schema, role string) (*sql.DB, error) {
	connConfig, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, errors.New("parse database url: invalid connection string")
	}
	if connConfig.RuntimeParams["application_name"] == "" {
		connConfig.RuntimeParams["application_name"] = DefaultApplicationName + role
	}
	applySchema(connConfig, schema)
	return stdlib.OpenDB(*connConfig), nil
}

func withMigrator(ctx context.Context, dbURL string, opts []MigrateOption, fn func(*migrator) error) error {
	o := migrateOptions{lockTimeout: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := openSQL(dbURL, o.schema, "-migrate")
	if err != nil {
		return err
	}
	defer db.Close()

	m := &migrator{db: db, opts: o}
	if m.schema, m.exists, err = targetSchema(ctx, db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&m.database); err != nil {
		return fmt.Errorf("connect to postgres for migrations: %w", err)
	}
	// Locking is ours (see locked), not goose's: the foreign-table check
	// and the migrations must run under one lock.
	m.provider, err = goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return fn(m)
}

// locked runs fn holding the migration advisory lock of the target
// database and schema, so that replicas started together do not migrate at
// the same time (and do not check for foreign tables while another one is
// half-way). The id is derived from the schema so that schemas of one
// database (parallel tests) do not wait for each other. It tries every
// second, up to five minutes.
func (m *migrator) locked(ctx context.Context, fn func() error) error {
	h := fnv.New64a()
	_, _ = h.Write([]byte("assistant-migrations\x00" + m.database + "\x00" + m.schema))
	id := int64(h.Sum64() >> 1)

	conn, err := m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to postgres for migrations: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(m.opts.lockTimeout)
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&got); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("take migration lock: another migration of schema %s held it for %s", m.schema, m.opts.lockTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("take migration lock: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", id)
	}()
	return fn()
}

func (m *migrator) hasVersionTable(ctx context.Context) (bool, error) {
	if !m.exists {
		return false, nil
	}
	rels, err := schemaRelations(ctx, m.db, m.schema)
	if err != nil {
		return false, err
	}
	return slices.Contains(rels, versionTable), nil
}

// refuseForeign returns a *ForeignTablesError when the target schema holds
// tables the migrations did not create. Without goose_db_version the
// migrations never ran there, so every table is foreign. With it, the
// schema is the daemon's, and only the tables a pending migration is about
// to create must not exist already.
func (m *migrator) refuseForeign(ctx context.Context) error {
	rels, err := schemaRelations(ctx, m.db, m.schema)
	if err != nil {
		return err
	}
	if !slices.Contains(rels, versionTable) {
		if len(rels) > 0 {
			return &ForeignTablesError{Schema: m.schema, Tables: rels}
		}
		return nil
	}
	statuses, err := m.provider.Status(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	var clash []string
	for _, s := range statuses {
		if s.State == goose.StateApplied {
			continue
		}
		created, err := createdTables(s.Source.Path)
		if err != nil {
			return err
		}
		for _, t := range created {
			if slices.Contains(rels, t) && !slices.Contains(clash, t) {
				clash = append(clash, t)
			}
		}
	}
	if len(clash) > 0 {
		slices.Sort(clash)
		return &ForeignTablesError{Schema: m.schema, Tables: clash}
	}
	return nil
}

var (
	sqlLineComment = regexp.MustCompile(`--[^\n]*`)
	// createTable matches the unqualified name of a table or view a
	// statement creates; qualified names land in another schema.
	createTable = regexp.MustCompile(`(?is)\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+|MATERIALIZED\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)(\s*\.)?`)
)

// createdTables names the tables and views the Up section of the embedded
// migration file creates in the search_path's schema.
func createdTables(file string) ([]string, error) {
	body, err := fs.ReadFile(migrations.FS, file)
	if err != nil {
		return nil, fmt.Errorf("read migration %s: %w", file, err)
	}
	up, _, _ := strings.Cut(string(body), "-- +goose Down")
	up = sqlLineComment.ReplaceAllString(up, "")
	var names []string
	for _, match := range createTable.FindAllStringSubmatch(up, -1) {
		if match[2] != "" {
			continue // schema-qualified
		}
		name := match[1]
		if strings.HasPrefix(name, `"`) {
			name = strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
		} else {
			name = strings.ToLower(name)
		}
		names = append(names, name)
	}
	return names, nil
}
