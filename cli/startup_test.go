package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/all"
)

// startupConfig writes a configuration for `run` with the given ops address,
// database URL and schema.
func startupConfig(t *testing.T, prefix, httpAddr, dbURL, schema string) string {
	t.Helper()
	body := fmt.Sprintf(`log:
  format: text
http:
  addr: %s
api:
  addr: 127.0.0.1:0
redis:
  url: %s
  key_prefix: %q
database:
  url: %q
  schema: %s
runner:
  block: 100ms
  shutdown_timeout: 5s
`, httpAddr, testenv.RedisURL(), prefix, dbURL, schema)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunBusyPortMigratesNothing: with the ops port taken, `run` fails on
// bind before it touches the database — the schema the migrations would
// create does not exist afterwards.
func TestRunBusyPortMigratesNothing(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	schema := testenv.SchemaName(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := startupConfig(t, prefix, busy.Addr().String(), testenv.DatabaseURL(), schema)

	code, _, stderr := runCLI(t, "run", "--stages=persist", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "listen on http.addr "+busy.Addr().String()) {
		t.Fatalf("run on a busy port: exit %d, stderr:\n%s", code, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables, schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if tables != 0 || schemas != 0 {
		t.Fatalf("run on a busy port migrated: schema %s exists=%d with %d tables", schema, schemas, tables)
	}
}

// TestRunWaitsForPostgres starts `run` with PostgreSQL unreachable (an
// in-test TCP proxy that drops every connection, then after ~1 s forwards
// them to the real server): the daemon serves /readyz 503 "waiting for
// postgresql" and logs its retries meanwhile, then migrates and becomes
// ready (200) instead of exiting.
func TestRunWaitsForPostgres(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	schema := testenv.SchemaName(t)
	real, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewTCPProxy(t, real.Host)
	proxy.Down() // PostgreSQL "not up yet"
	viaProxy := *real
	viaProxy.Host = proxy.Addr()

	// A free port for the ops server, so the test can probe it while the
	// daemon waits.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := probe.Addr().String()
	probe.Close()
	cfg := startupConfig(t, prefix, opsAddr, viaProxy.String(), schema)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdout: &stdout, stderr: &stderr}
	done := make(chan int, 1)
	go func() { done <- a.execute(ctx, []string{"run", "--stages=persist", "--config", cfg}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("run did not stop within 15s of cancellation")
		}
	})
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + opsAddr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	exited := func() {
		select {
		case code := <-done:
			t.Fatalf("run exited with %d while PostgreSQL was unreachable:\n%s", code, stderr.String())
		default:
		}
	}

	testenv.WaitFor(t, "/readyz 503 waiting for postgresql", 15*time.Second, func() bool {
		exited()
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for postgresql")
	})
	// It keeps retrying, logging each attempt, and does not exit.
	testenv.WaitFor(t, "2 logged retries for postgresql", 15*time.Second, func() bool {
		exited()
		return strings.Count(stderr.String(), `msg="waiting for dependency" dependency=postgresql`) >= 2
	})
	proxy.Up()
	testenv.WaitFor(t, "/readyz 200 once PostgreSQL answers", 30*time.Second, func() bool {
		exited()
		code, _ := readyz()
		return code == http.StatusOK
	})
	if !strings.Contains(stderr.String(), `msg="dependency reachable" dependency=postgresql`) {
		t.Errorf("no log line for postgresql becoming reachable:\n%s", stderr.String())
	}
}
