// Package postgres is the daemon's PostgreSQL store: it opens the shared
// connection pool, applies the embedded migrations (package migrations) with
// goose, and holds the repositories the stages write through — the batch
// UPSERT of posts.tagged into posts and post_enrichment for persist, and the
// read helpers later stages and tests use.
//
// Every query is parameterised. Table names are unqualified so that the
// connection's search_path decides the schema: database.schema (default
// "assistant"), so that a database shared with another application never
// collides with its tables; tests use a schema each.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// DefaultApplicationName is the application_name of the daemon's
// connections when the database URL does not set one; it makes the daemon's
// sessions recognisable in pg_stat_activity.
const DefaultApplicationName = "assistant"

// ResourceName is the name under which stages share the pool in
// pipeline.Resources (see Shared).
const ResourceName = "postgres"

// openOptions are the settings Option changes.
type openOptions struct {
	tracer          pgx.QueryTracer
	applicationName string
	pingTimeout     time.Duration
}

// Option adjusts how Open builds the pool.
type Option func(*openOptions)

// WithTracer installs a pgx tracer on every connection of the pool. If it
// also implements pgx.BatchTracer it sees batches too (pgx checks the
// tracer's interfaces itself). Tests use it to count statements.
func WithTracer(tracer pgx.QueryTracer) Option {
	return func(o *openOptions) { o.tracer = tracer }
}

// WithApplicationName sets the connections' application_name, overriding the
// database URL's.
func WithApplicationName(name string) Option {
	return func(o *openOptions) { o.applicationName = name }
}

// Open builds a connection pool for db, sized by db.MaxConns, and checks
// that the server answers. It does not migrate: callers run MigrateUp first
// when database.auto_migrate is set.
func Open(ctx context.Context, db config.Database, opts ...Option) (*pgxpool.Pool, error) {
	o := openOptions{pingTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	poolConfig, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		// The error of ParseConfig may quote the URL, password included.
		return nil, errors.New("parse database url: invalid connection string")
	}
	if db.MaxConns > 0 {
		poolConfig.MaxConns = int32(min(db.MaxConns, 1<<30))
	}
	params := poolConfig.ConnConfig.RuntimeParams
	switch {
	case o.applicationName != "":
		params["application_name"] = o.applicationName
	case params["application_name"] == "":
		params["application_name"] = DefaultApplicationName
	}
	applySchema(poolConfig.ConnConfig, db.Schema)
	if o.tracer != nil {
		poolConfig.ConnConfig.Tracer = o.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, o.pingTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres at %s:%d: %w", poolConfig.ConnConfig.Host, poolConfig.ConnConfig.Port, err)
	}
	// A schema that does not exist would make every statement fail on a
	// missing table, batch after batch; say what is wrong once, here.
	var current *string
	if err := pool.QueryRow(pingCtx, "SELECT current_schema()").Scan(&current); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read current schema: %w", err)
	}
	if current == nil {
		pool.Close()
		return nil, fmt.Errorf("postgres schema %s: %w (apply the migrations: assistant migrate up, or database.auto_migrate)",
			poolConfig.ConnConfig.RuntimeParams["search_path"], errSchemaMissing)
	}
	return pool, nil
}

// Shared returns the process-wide pool kept in res under ResourceName,
// opening it on first use. Every stage that needs Postgres calls this, so the
// process holds one pool; the pool is closed with res.
func Shared(ctx context.Context, res *pipeline.Resources, db config.Database) (*pgxpool.Pool, error) {
	return pipeline.Resource(res, ResourceName, func() (*pgxpool.Pool, func(), error) {
		pool, err := Open(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		return pool, pool.Close, nil
	})
}

// IsDataError reports whether err is Postgres refusing the data itself (an
// invalid value, a violated constraint, a value over a limit such as a key
// longer than an index row may be): retrying the same rows cannot succeed,
// unlike a connection that broke or a server that is down. In a multi-row
// write only some rows may be at fault: see WriteSplitting.
func IsDataError(err error) bool {
	code := SQLState(err)
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "22", // data exception
		"23", // integrity constraint violation
		"54": // program limit exceeded ("index row size 6024 exceeds btree version 4 maximum 2704")
		return true
	}
	return false
}

// IsUnavailable reports whether err means the database cannot serve any
// row right now, whatever the data: the server refused or dropped the
// connection (SQLSTATE class 08, a net error), is shutting down (57P01,
// 57P02, 57P03), has no connection slot left (53300), or the schema lacks
// a table or column the statement needs (42P01, 42703). Retrying one entry
// cannot fix these; waiting for the database can.
func IsUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"):
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03",
			pgErr.Code == "53300", pgErr.Code == "42P01", pgErr.Code == "42703":
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // ours, not the database's (context errors are net.Errors too)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}
