package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RUMIndex is the optional full-text index of posts (search.rum): RUM
// keeps word positions in the index and returns matches already ordered by
// rank, so keyword search ranks only the best few hundred matches of a
// common word instead of reading every matching tsvector. It costs writes:
// the persist stage's upserts run several times slower with it
// (docs/search.md), which is why it is not a migration.
const RUMIndex = "posts_search_rum_idx"

// RUMState is what EnsureSearchRUM left.
type RUMState struct {
	// On: the index exists (search ranks through it).
	On bool
	// Unavailable says why it could not be created (the server lacks
	// postgresql-<version>-rum, or this role may not create the
	// extension); search then ranks through GIN.
	Unavailable string
}

// EnsureSearchRUM creates (on) or drops (off) the RUM index of posts in
// the pool's schema. The extension goes to the public schema when it is not
// installed yet, so that every schema of the database shares it and no
// schema's DROP ... CASCADE takes it from the others; search finds its
// operator through the catalog.
func EnsureSearchRUM(ctx context.Context, pool *pgxpool.Pool, on bool) (RUMState, error) {
	if !on {
		if _, err := pool.Exec(ctx, `DROP INDEX IF EXISTS `+RUMIndex); err != nil {
			return RUMState{}, fmt.Errorf("drop the search RUM index: %w", err)
		}
		return RUMState{}, nil
	}
	schemaOf := func() (string, error) {
		var s string
		err := pool.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'rum'`).Scan(&s)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		return s, err
	}
	schema, err := schemaOf()
	if err != nil {
		return RUMState{}, fmt.Errorf("look up the rum extension: %w", err)
	}
	if schema == "" {
		var available bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum')`).Scan(&available); err != nil {
			return RUMState{}, fmt.Errorf("look up the rum extension: %w", err)
		}
		if !available {
			return RUMState{Unavailable: "the server has no rum extension (Debian: apt-get install postgresql-15-rum)"}, nil
		}
		if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS rum SCHEMA public`); err != nil {
			// Another process may have created it meanwhile.
			if schema, _ = schemaOf(); schema == "" {
				return RUMState{Unavailable: "CREATE EXTENSION rum: " + err.Error()}, nil
			}
		}
		if schema, err = schemaOf(); err != nil || schema == "" {
			return RUMState{}, fmt.Errorf("look up the rum extension after creating it: %v", err)
		}
	}
	// Built CONCURRENTLY, so that ingest goes on meanwhile; a build that
	// failed half-way leaves an invalid index, dropped and built again.
	var valid *bool
	err = pool.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`, RUMIndex).Scan(&valid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return RUMState{}, fmt.Errorf("look up the search RUM index: %w", err)
	}
	if valid != nil && *valid {
		return RUMState{On: true}, nil
	}
	if valid != nil {
		if _, err := pool.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+RUMIndex); err != nil {
			return RUMState{}, fmt.Errorf("drop the invalid search RUM index: %w", err)
		}
	}
	_, err = pool.Exec(ctx, `CREATE INDEX CONCURRENTLY IF NOT EXISTS `+RUMIndex+` ON posts USING rum (search_tsv `+
		pgx.Identifier{schema, "rum_tsvector_ops"}.Sanitize()+`)`)
	if err != nil {
		return RUMState{}, fmt.Errorf("create the search RUM index: %w", err)
	}
	return RUMState{On: true}, nil
}
