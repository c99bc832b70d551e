package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestRefusedConnectionIsUnavailable reproduces issue 21's refusal path on
// the real server: a database with ALLOW_CONNECTIONS false answers a new
// connection with FATAL 55000 ("not currently accepting connections"),
// which pgx returns inside a *pgconn.ConnectError. Read as a plain SQLSTATE
// 55000 it was neither an outage nor data, so persist spent the entries'
// attempts on it and dead-lettered good posts; it must be an outage. A
// backend terminated by an administrator (57P01) is one too.
func TestRefusedConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Skipf("postgres at %s is not reachable: %v", testenv.DatabaseURL(), err)
	}
	// A cleanup, not a defer: defers run before cleanups, and the drop
	// below needs the connection (cleanups run last-registered first).
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "refuse_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var pid int
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}

	// A session terminated by an administrator: its next statement fails.
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	var one int
	err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	conn.Release()
	if err == nil {
		t.Fatal("a statement on a terminated backend succeeded")
	}
	t.Logf("terminated backend: %v (sqlstate %q)", err, SQLState(err))
	if !IsUnavailable(err) || IsDataError(err) {
		t.Errorf("terminated backend: IsUnavailable = %v, IsDataError = %v; want an outage", IsUnavailable(err), IsDataError(err))
	}

	// The database refusing connections.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	_, err = pool.Begin(ctx)
	if err == nil {
		t.Fatal("begin on a database refusing connections succeeded")
	}
	t.Logf("refused: %v (sqlstate %q)", err, SQLState(err))
	if !IsUnavailable(err) || IsDataError(err) {
		t.Errorf("refused connection: IsUnavailable = %v, IsDataError = %v; want an outage", IsUnavailable(err), IsDataError(err))
	}
}
