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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/resource"
)

// DefaultApplicationName is the application_name of the daemon's
// connections when the database URL does not set one; it makes the daemon's
// sessions recognisable in pg_stat_activity.
const DefaultApplicationName = "assistant"

// ResourceName is the name under which stages share the pool in
// resource.Set (see Shared).
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
func Shared(ctx context.Context, res *resource.Set, db config.Database) (*pgxpool.Pool, error) {
	return resource.Get(res, ResourceName, func() (*pgxpool.Pool, func(), error) {
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
// row right now, whatever the data: the runner then pauses the stage
// without counting an attempt (pipeline.Unavailable). It is so for
//
//   - any failure to connect (a *pgconn.ConnectError), whatever the server
//     said: FATAL 55000 "database is not currently accepting connections"
//     (ALLOW_CONNECTIONS false), 57P03 "starting up", 53300 "too many
//     connections", 57P01 while the backend starts, a refused dial;
//   - a connection that broke: SQLSTATE class 08, 57P01–57P05 (terminated
//     by an administrator, crash, cannot connect now, database dropped,
//     idle session timeout), a reset, EOF, pgx's "conn closed", TLS
//     failures, any net.Error;
//   - the server's state: class 53 (disk full, out of memory, too many
//     connections), class 58 (I/O error), 55000 and 55006 (not in the
//     state required, object in use), 55P03 (lock_timeout), 57014
//     (statement_timeout or an administrator's cancel), 25006 (a read-only
//     server: a standby, or the old primary after a failover);
//   - a call that ran out of time (context.DeadlineExceeded from a per-call
//     timeout or a pool acquire); the runner tells its own shutdown apart;
//   - a schema lacking a table, a column or itself (42P01, 42703, 3F000).
//
// None of these is one entry's fault; retrying one entry cannot fix them,
// waiting for the database can. A cancellation (context.Canceled) is ours.
// Errors of one row's data are IsDataError's (classes 22, 23, 54); the
// rest (a deadlock, a serialization failure, a syntax error) is neither.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	if code := SQLState(err); code != "" {
		return unavailableState(code)
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	if isTLSError(err) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// unavailableState reports whether a SQLSTATE says the server cannot serve
// now (see IsUnavailable), as opposed to the statement or its data.
func unavailableState(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "57P04", "57P05", // shutdown, crash, cannot connect now, database dropped, idle session timeout
		"57014",          // query canceled: statement_timeout, or an administrator's pg_cancel_backend
		"55000", "55006", // object not in prerequisite state ("not currently accepting connections"), object in use
		"55P03",          // lock not available (lock_timeout)
		"25006",          // read-only SQL transaction: a standby, or the old primary after a failover
		"42P01", "42703", // undefined table, column: the migrations have not run
		"3F000": // invalid schema name: the schema is missing
		return true
	}
	switch code[:min(2, len(code))] {
	case "08", // connection exception
		"53", // insufficient resources: disk full, out of memory, too many connections
		"58": // system error: I/O error, undefined file
		return true
	}
	return false
}

// isTLSError reports whether err is a TLS failure between us and the
// server: a handshake that failed, a certificate not trusted, an alert. A
// misconfiguration or a server mid-restart, never one row's fault.
func isTLSError(err error) bool {
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	return errors.As(err, &recordErr) || errors.As(err, &alert) || errors.As(err, &certErr) ||
		errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalidCert)
}
