package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/all"
)

// syncBuffer is a bytes.Buffer safe to write from the daemon's goroutines
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCLI runs one command line and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdout: &stdout, stderr: &stderr}
	code := a.execute(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

// testConfig writes a configuration file pointing at the test's Redis prefix
// (and database, when dbURL is set).
func testConfig(t *testing.T, prefix, dbURL, extra string) string {
	t.Helper()
	if dbURL == "" {
		dbURL = testenv.DatabaseURL()
	}
	api := "api:\n  addr: 127.0.0.1:0\n"
	if strings.Contains(extra, "\napi:") || strings.HasPrefix(extra, "api:") {
		api = "" // the caller configures the API itself
	}
	body := fmt.Sprintf(`log:
  format: text
http:
  addr: 127.0.0.1:0
%sredis:
  url: %s
  key_prefix: %q
database:
  url: %q
runner:
  block: 100ms
  metrics_interval: 200ms
  shutdown_timeout: 10s
%s`, api, testenv.RedisURL(), prefix, dbURL, extra)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "assistant ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "x:", "", "")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("runner:\n  max_attempts: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(t.TempDir(), "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("runner:\n  max_atempts: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--bogus"}, "run: unknown flag: --bogus"},
		{"unknown stage", []string{"run", "--config", cfg, "--stages=persist,nope"}, `unknown stage "nope"`},
		{"empty stages", []string{"run", "--config", cfg, "--stages="}, "--stages names no stage"},
		{"bad config", []string{"config", "validate", "--config", bad}, "invalid config: 1 problem (listed above)"},
		{"bad config in run", []string{"run", "--config", bad}, "invalid config: runner.max_attempts = 0: must be at least 1"},
		{"unknown key", []string{"streams", "--config", unknownKey}, "runner.max_atempts = 3: unknown key"},
		{"missing file", []string{"config", "validate", "--config", "/nonexistent.yaml"}, "/nonexistent.yaml"},
		{"dlq replay without ids", []string{"dlq", "replay", "parsed", "--config", cfg}, "dlq replay: name the entries"},
		{"dlq purge with both", []string{"dlq", "purge", "parsed", "--id", "1-0", "--all", "--config", cfg}, "not both"},
		{"dlq unknown stream", []string{"dlq", "list", "posts.parsd", "--config", cfg}, `unknown stream "posts.parsd"`},
		{"dlq list without stream", []string{"dlq", "list", "--config", cfg}, "dlq list: name the stream whose DLQ to list: one of posts.parsed"},
		{"unknown dlq subcommand", []string{"dlq", "bogus"}, `unknown command "bogus" for "assistant dlq"`},
		{"unknown bench subcommand", []string{"bench", "bogus"}, "(want one of: "},
		{"ingest bad format", []string{"ingest", "--format", "xml", "--config", cfg, "f.jsonl"}, `ingest: unknown --format "xml" (want auto, jsonl or telegram)`},
		{"ingest missing file", []string{"ingest", "--dry-run", "--config", cfg, "/nonexistent/nope.jsonl"}, "ingest: open /nonexistent/nope.jsonl: no such file or directory"},
		{"bad --log-level", []string{"config", "validate", "--config", cfg, "--log-level", "loud"}, `--log-level "loud": want one of debug, info, warn, error`},
		{"bad --log-format", []string{"streams", "--config", cfg, "--log-format", "xml"}, `--log-format "xml": want one of json, text`},
		{"import legacy without --from", []string{"import", "legacy", "--config", cfg}, "--from is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code == 0 {
				t.Fatal("exit status 0")
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "assistant: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tt.want)
			}
		})
	}
	if code, out, _ := runCLI(t, "config", "validate", "--config", cfg); code != 0 || out != "config ok\n" {
		t.Errorf("validate good config: %d %q", code, out)
	}
}

func TestConfigPrint(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "p:", "postgres://app:db-secret@127.0.0.1:5432/app", `ai:
  gigachat:
    api_key: giga-secret
`)
	code, out, stderr := runCLI(t, "config", "print", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"block: 100ms", "shutdown_timeout: 10s", "retention: 2160h", "api_key: <redacted>", "app:xxxxx@"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, secret := range []string{"giga-secret", "db-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %s", secret)
		}
	}
}

func TestStreamsAndDLQCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")

	stream := prefix + "posts.parsed"
	for i := range 3 {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"data", fmt.Sprintf(`{"post_id":"p%d"}`, i)}})
	}
	if err := rdb.XGroupCreate(ctx, stream, "tag", "0").Err(); err != nil {
		t.Fatal(err)
	}
	rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "tag", Consumer: "h-1-tag-0", Streams: []string{stream, ">"}, Count: 1})
	event := `{"schema_version":"v1","post_id":"p9","text":"Привет"}`
	original, _ := json.Marshal(map[string]string{"data": event})
	dlqID := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream + ".dlq", Values: []any{
		"data", string(original), "stream", "posts.parsed", "group", "tag", "entry_id", "1-0", "stage", "tag",
		"error", "undecodable entry:\nmissing required field text", "error_class", "permanent", "attempts", "1",
		"first_seen_at", "2026-01-02T03:04:05Z", "failed_at", "2026-01-02T03:04:06Z", "trace_id", "tr-9",
	}}).Val()

	code, out, stderr := runCLI(t, "streams", "--config", cfg)
	if code != 0 {
		t.Fatalf("streams: %d %s", code, stderr)
	}
	if !regexp.MustCompile(`posts\.parsed\s+3\s+1\s+tag\s+2\s+1\s+\S+\s+\S+\s+1`).MatchString(out) {
		t.Errorf("streams table:\n%s", out)
	}
	if !regexp.MustCompile(`posts\.tagged\s+-\s+0\s+-`).MatchString(out) {
		t.Errorf("missing stream row:\n%s", out)
	}

	code, out, _ = runCLI(t, "dlq", "list", "parsed", "--config", cfg)
	if code != 0 || !strings.Contains(out, ": 1 entry\n") || !strings.Contains(out, dlqID) ||
		!strings.Contains(out, "undecodable entry: missing required field text") || !strings.Contains(out, "2026-01-02T03:04:06Z") {
		t.Errorf("dlq list: %d\n%s", code, out)
	}

	code, out, stderr = runCLI(t, "dlq", "show", dlqID, "--config", cfg)
	if code != 0 || !strings.Contains(out, "trace_id:") || !strings.Contains(out, "tr-9") ||
		!strings.Contains(out, `"post_id": "p9"`) || !strings.Contains(out, "Привет") {
		t.Errorf("dlq show: %d %s\n%s", code, stderr, out)
	}

	code, out, _ = runCLI(t, "dlq", "replay", "posts.parsed", "--id", dlqID, "--config", cfg)
	if code != 0 || !strings.Contains(out, "replayed 1 entry from") {
		t.Errorf("dlq replay: %d %s", code, out)
	}
	last := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Val()
	if len(last) != 1 || last[0].Values["data"] != event {
		t.Errorf("replayed entry: %v", last)
	}

	rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream + ".dlq", Values: []any{"data", "{}", "stream", "posts.parsed"}})
	code, out, _ = runCLI(t, "dlq", "purge", "parsed", "--all", "--yes", "--config", cfg)
	if code != 0 || !strings.Contains(out, "purged 1 entry from") {
		t.Errorf("dlq purge: %d %s", code, out)
	}
	code, _, stderr = runCLI(t, "dlq", "show", dlqID, "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("show purged entry: %d %s", code, stderr)
	}
}

func TestIngestCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")

	code, out, stderr := runCLI(t, "ingest", "--dry-run", "--limit", "3", "--format", "jsonl", "--config", cfg, testenv.SamplePath())
	if code != 0 {
		t.Fatalf("dry run: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !json.Valid([]byte(lines[0])) {
		t.Errorf("dry run printed %d lines:\n%s", len(lines), out)
	}
	if n := rdb.Exists(ctx, prefix+"posts.parsed").Val(); n != 0 {
		t.Error("a dry run wrote to Redis")
	}

	code, out, stderr = runCLI(t, "ingest", "--limit", "5", "--config", cfg, testenv.SamplePath())
	if code != 0 || !strings.Contains(stderr, "ingested 5 posts") {
		t.Fatalf("ingest: %d %s %s", code, out, stderr)
	}
	if n := rdb.XLen(ctx, prefix+"posts.parsed").Val(); n != 5 {
		t.Errorf("stream holds %d entries, want 5", n)
	}
}

// TestImportLegacyCommand runs `assistant import legacy` twice on a
// database built with the old system's DDL: the first run publishes its
// posts, the second nothing.
func TestImportLegacyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	oldURL := testenv.Postgres(t)
	ddl, err := os.ReadFile(filepath.Join("..", "testdata", "legacy", "old_schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, oldURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(ddl)+`;
INSERT INTO channels (id, tg_channel_id, title) VALUES ('6f1c1f3e-0d7a-4d38-9a57-3d1f8c2e0a11', 1000724666, 'Naked Science');
INSERT INTO posts (id, channel_id, telegram_message_id, content, media_urls, posted_at, created_at) VALUES
    ('0b7a3c8e-5d1f-4c2a-9e6b-7f8d9a0b1c2d', '6f1c1f3e-0d7a-4d38-9a57-3d1f8c2e0a11', 1, 'первый', '[]', '2024-12-01 10:00+00', '2024-12-01 10:00+00'),
    ('1c8b4d9f-6e20-4d3b-8f7c-8a9e0b1c2d3e', '6f1c1f3e-0d7a-4d38-9a57-3d1f8c2e0a11', 2, '', '["https://cdn.example/a.jpg"]', '2024-12-01 11:00+00', '2024-12-01 11:00+00');`); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "import", "legacy", "--from", oldURL, "--config", cfg)
	if code != 0 || !strings.Contains(stderr, "imported 2 of 2 pending old posts") {
		t.Fatalf("import: %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "import", "legacy", "--from", oldURL, "--config", cfg)
	if code != 0 || !strings.Contains(stderr, "imported 0 of 0 pending old posts") || !strings.Contains(stderr, "resumed") {
		t.Fatalf("second import: %d %s", code, stderr)
	}
	if n := rdb.XLen(ctx, prefix+"posts.parsed").Val(); n != 2 {
		t.Errorf("stream holds %d entries, want 2", n)
	}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Postgres(t)
	cfg := testConfig(t, "m:", dbURL, "")
	if code, out, stderr := runCLI(t, "migrate", "up", "--config", cfg); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("migrate up: %d %s %s", code, out, stderr)
	}
	code, out, _ := runCLI(t, "migrate", "status", "--config", cfg)
	if code != 0 || strings.Contains(out, "pending") || !strings.Contains(out, "00001_posts.sql") {
		t.Errorf("status after up: %d\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, "migrate", "down", "--yes", "--config", cfg); code != 0 {
		t.Fatalf("migrate down: %d %s", code, stderr)
	}
	if _, out, _ := runCLI(t, "migrate", "status", "--config", cfg); strings.Count(out, "pending") != 1 {
		t.Errorf("status after one down:\n%s", out)
	}
}

// TestRunServesAndStopsCleanly starts the daemon with the persist stage,
// checks the operations endpoints on the bound address it logs, and expects
// exit status 0 after cancellation (what SIGTERM does).
func TestRunServesAndStopsCleanly(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	cfg := testConfig(t, prefix, dbURL, "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdout: &stdout, stderr: &stderr}
	done := make(chan int, 1)
	go func() { done <- a.execute(ctx, []string{"run", "--stages=persist", "--config", cfg}) }()

	addrRE := regexp.MustCompile(`msg="ops server listening" addr=(\S+)`)
	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no listening address logged:\n%s", stderr.String())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz: %d %q", code, body)
	}
	var code int
	var body string
	for time.Now().Before(deadline) {
		if code, body = get("/readyz"); code == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("readyz: %d %q", code, body)
	}
	if code, out, stderr := runCLI(t, "healthcheck", "--ready", "--addr", addr); code != 0 || !strings.Contains(out, "/readyz: ready") {
		t.Errorf("healthcheck --ready against the daemon: %d %q %q", code, out, stderr)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "assistant_build_info") || !strings.Contains(body, `stage="persist"`) {
		t.Errorf("metrics: %d", code)
	}
	// Labelled series exist at zero before their first event, for alerts;
	// histogram bounds print as written.
	_, body = get("/metrics")
	for _, series := range []string{
		`stage_messages_total{stage="persist",status="dlq"} 0`,
		`stage_messages_total{stage="persist",status="retry"} 0`,
		`stage_dlq_total{reason="exhausted",stage="persist"} 0`,
		`stage_dlq_total{reason="permanent",stage="persist"} 0`,
		`stage_claimed_total{reason="consumer_gone",stage="persist"} 0`,
		`stage_claimed_total{reason="idle",stage="persist"} 0`,
		`tags_persisted_total{status="error"} 0`,
	} {
		if !strings.Contains(body, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	if m := regexp.MustCompile(`le="[0-9.]*[0-9]{7,}"`).FindString(body); m != "" {
		t.Errorf("a bucket bound prints as %s", m)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status %d:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15s of cancellation")
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Errorf("log:\n%s", stderr.String())
	}
}

// TestStreamsShowsIgnoredLegacyKeys: with the legacy consumer off, an old
// worker's key that holds entries is listed, with a warning that nothing
// reads it; an empty one is not.
func TestStreamsShowsIgnoredLegacyKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	for range 3 {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "stream:posts:parsed", Values: map[string]any{"post_id": "p"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := runCLI(t, "streams", "--config", cfg)
	if code != 0 {
		t.Fatalf("streams: %d %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^stream:posts:parsed +3 `).MatchString(out) || strings.Contains(out, "stream:posts:tagged") {
		t.Errorf("streams output does not list exactly the old key with entries:\n%s", out)
	}
	if !strings.Contains(stderr, "stream:posts:parsed holds 3 entries that nothing reads") {
		t.Errorf("no warning about the ignored key: %q", stderr)
	}
}

// TestStreamsShowsPartitions: with three partitions, `streams` sums each
// stream's partitions, and --partitions adds a row per partition.
func TestStreamsShowsPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "streams:\n  partitions: 3\n")
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq", Partitions: 3}
	for p := range 3 {
		for range p + 1 {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.PartStream(p, "posts.parsed"), Values: map[string]any{"data": "{}"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, out, stderr := runCLI(t, "streams", "--partitions", "--config", cfg)
	if code != 0 {
		t.Fatalf("streams: %d %s", code, stderr)
	}
	for _, re := range []string{`(?m)^posts\.parsed +6 `, `(?m)^posts\.parsed\[p0\] +1 `, `(?m)^posts\.parsed\[p2\] +3 `} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("streams output lacks %s:\n%s", re, out)
		}
	}
}
