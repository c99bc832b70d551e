package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/postgres"
)

// dedicatedDatabase creates a database of its own for the test (so that
// blocking it disturbs no other test) and returns the admin connection and
// the database's URL. The database is dropped when the test ends, its
// connections terminated first.
func dedicatedDatabase(ctx context.Context, t *testing.T) (*pgx.Conn, string, string) {
	t.Helper()
	admin, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatalf("postgres at %s is not reachable: %v", testenv.DatabaseURL(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "e2e_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true")
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
			t.Errorf("terminate connections of %s: %v", name, err)
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		t.Fatalf("parse database url: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	// The daemon's schema (database.schema) by name, so that the test's own
	// connections on this URL see its tables too.
	q.Set("search_path", "assistant")
	u.RawQuery = q.Encode()
	return admin, name, u.String()
}

// terminateDaemonConnections ends every connection the daemon holds on the
// database (they carry application_name "assistant") and returns how many.
func terminateDaemonConnections(ctx context.Context, admin *pgx.Conn, database string) (int, error) {
	var n int
	err := admin.QueryRow(ctx, `
SELECT count(*) FROM (
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()
) AS terminated`, database, postgres.DefaultApplicationName).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("terminate connections of %s: %w", database, err)
	}
	return n, nil
}

// TestPostgresOutagesLoseNothing proves that PostgreSQL trouble during a
// run costs nothing: first the daemon's connections are terminated over and
// over while posts flow, then its database refuses connections for a while
// (ALLOW_CONNECTIONS false plus pg_terminate_backend) — during which
// /readyz answers 503 naming the persist stage and its database, and the
// persist stage is paused (stage_paused) — and once connections are allowed again the
// daemon, the same process throughout, becomes ready and stores every post,
// with no DLQ entry. It runs against a database created for it.
func TestPostgresOutagesLoseNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, database, dbURL := dedicatedDatabase(ctx, t)
	ident := pgx.Identifier{database}.Sanitize()

	input := variants(testenv.SamplePosts(t, 0), 6)
	dir := t.TempDir()
	const chunks = 6
	var files []string
	for i := range chunks {
		part := input[i*len(input)/chunks : (i+1)*len(input)/chunks]
		f, err := WriteJSONL(dir, fmt.Sprintf("chunk-%d.jsonl", i), part)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}

	stack := NewStackWithDatabase(t, dbURL)
	// The default runner.max_attempts (5): an outage must spend none of
	// them, however long it lasts (issue 21).
	stack.Env["ASSISTANT_RUNNER_RETRY_MAX_BACKOFF"] = "2s"
	daemon := stack.Start(ctx, Options{})
	pid := daemon.PID()

	// Phase 1: connections terminated every 100ms for 2s while posts flow.
	terminated := 0
	tick := time.NewTicker(100 * time.Millisecond)
	next := 0
	for i := range 20 {
		if i%6 == 0 && next < 3 {
			stack.Ingest(ctx, files[next])
			next++
		}
		n, err := terminateDaemonConnections(ctx, admin, database)
		if err != nil {
			t.Fatal(err)
		}
		terminated += n
		<-tick.C
	}
	tick.Stop()
	t.Logf("phase 1: terminated %d daemon connections", terminated)

	// Phase 2: the database refuses connections.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := terminateDaemonConnections(ctx, admin, database); err != nil {
		t.Fatal(err)
	}
	stack.Ingest(ctx, files[next])
	next++
	var reason string
	if !PollUntil(ctx, 20*time.Second, 50*time.Millisecond, func() bool {
		status, body, err := daemon.Get(ctx, "/readyz")
		reason = fmt.Sprintf("%d %s %v", status, strings.TrimSpace(body), err)
		return err == nil && status == http.StatusServiceUnavailable
	}) {
		t.Fatalf("/readyz did not report the blocked database: last %s", reason)
	}
	t.Logf("phase 2: /readyz while the database is blocked: %s", reason)
	lower := strings.ToLower(reason)
	if !strings.Contains(lower, "persist") || !(strings.Contains(lower, "postgres") || strings.Contains(lower, "database")) {
		t.Errorf("/readyz reason %q names neither the persist stage and its database", reason)
	}
	// The stage pauses (issue 21: an outage spends no attempt) rather than
	// retrying entry by entry.
	var paused float64
	if !PollUntil(ctx, 20*time.Second, 50*time.Millisecond, func() bool {
		m, err := daemon.Metrics(ctx)
		if err == nil {
			paused = m.Value("stage_paused", "stage", "persist")
		}
		return paused == 1
	}) {
		t.Errorf("stage_paused{stage=persist} not 1 in /metrics while the database was blocked")
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	if !PollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() bool {
		status, _, err := daemon.Get(ctx, "/readyz")
		return err == nil && status == http.StatusOK
	}) {
		t.Fatal("/readyz did not recover after connections were allowed again")
	}
	for ; next < len(files); next++ {
		stack.Ingest(ctx, files[next])
	}
	stack.WaitDrained(ctx, 2*time.Minute)
	requireAllStored(ctx, t, stack, input)
	stack.RequireDLQsEmpty(ctx)
	if !daemon.Running() || daemon.PID() != pid {
		t.Fatal("the daemon restarted or exited during the outages")
	}
	t.Logf("%d posts stored; persist paused during the refusal", len(input))
	daemon.Stop()
}
