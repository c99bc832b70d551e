package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/assistant-dev/assistant/migrations"
)

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

// MigrateUp applies every pending migration.
func MigrateUp(ctx context.Context, dbURL string) error {
	return withProvider(ctx, dbURL, func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		for _, r := range results {
			slog.InfoContext(ctx, "migration applied", slog.String("migration", r.Source.Path),
				slog.String("direction", r.Direction), slog.Duration("took", r.Duration))
		}
		if err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		return nil
	})
}

// MigrateDown rolls back the most recently applied migration (one step).
func MigrateDown(ctx context.Context, dbURL string) error {
	return withProvider(ctx, dbURL, func(p *goose.Provider) error {
		r, err := p.Down(ctx)
		if err != nil {
			if errors.Is(err, goose.ErrNoNextVersion) {
				return errors.New("roll back migration: no migration is applied")
			}
			return fmt.Errorf("roll back migration: %w", err)
		}
		slog.InfoContext(ctx, "migration rolled back", slog.String("migration", r.Source.Path),
			slog.Duration("took", r.Duration))
		return nil
	})
}

// MigrateStatus lists every embedded migration with its state, oldest first.
func MigrateStatus(ctx context.Context, dbURL string) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := withProvider(ctx, dbURL, func(p *goose.Provider) error {
		statuses, err := p.Status(ctx)
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

// withProvider opens a database/sql handle on dbURL (goose speaks
// database/sql; pgx's stdlib adapter keeps the URL's parameters, search_path
// included, so goose's version table lands in the same schema as the
// tables), builds a goose provider over the embedded files and runs fn.
func withProvider(ctx context.Context, dbURL string, fn func(*goose.Provider) error) error {
	connConfig, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return errors.New("parse database url: invalid connection string")
	}
	if connConfig.RuntimeParams["application_name"] == "" {
		connConfig.RuntimeParams["application_name"] = DefaultApplicationName + "-migrate"
	}
	db := stdlib.OpenDB(*connConfig)
	defer db.Close()

	lockID, err := migrationLockID(ctx, db)
	if err != nil {
		return err
	}
	// Replicas started together must not migrate at the same time. The
	// advisory lock is per database; its id is derived from the schema so
	// that schemas of one database (parallel tests) do not wait for each
	// other. Retry every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return fn(provider)
}

// migrationLockID derives the advisory-lock id of the migrations of the
// connection's database and schema.
func migrationLockID(ctx context.Context, db *sql.DB) (int64, error) {
	var database, schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_database(), current_schema()").Scan(&database, &schema); err != nil {
		return 0, fmt.Errorf("connect to postgres for migrations: %w", err)
	}
	if !schema.Valid {
		return 0, errors.New("migrate: no schema of the search_path exists")
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("assistant-migrations\x00" + database.String + "\x00" + schema.String))
	return int64(h.Sum64() >> 1), nil
}
