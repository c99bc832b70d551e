package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/assistant-dev/assistant/stages/all"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// TestProcessErrorsAreOneLine runs the binary as a process, where go-redis'
// global logger and slog's default apply: a failing command prints its
// error, one line, and nothing else — no log line, no summary, no go-redis
// pool.go lines ahead of it.
func TestProcessErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"ingest missing file", nil, []string{"ingest", "--dry-run", "nope.jsonl"},
			"assistant: ingest: open nope.jsonl: no such file or directory\n"},
		// Port 1 refuses connections: go-redis retries the dial and, by
		// default, logs each failure to stderr itself.
		{"redis down", []string{"REDIS_URL=redis://127.0.0.1:1/0"}, []string{"streams"},
			"assistant: connect to redis at redis://127.0.0.1:1/0: dial tcp 127.0.0.1:1: connect: connection refused\n"},
		{"ingest bad format", nil, []string{"ingest", "--format", "xml", "f.jsonl"},
			"assistant: ingest: unknown --format \"xml\" (want auto, jsonl or telegram)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runProcess(t, "", tt.env, tt.args...)
			if code != 1 || stdout != "" || stderr != tt.want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and only:\n%s", code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestIngestExitStatus: a file with rejected lines makes ingest fail (after
// publishing the valid posts) unless --allow-malformed says that is fine; a
// clean file exits 0.
func TestIngestExitStatus(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "ingest-exit:", "", "")
	dir := t.TempDir()
	good, err := os.ReadFile(testenv.SamplePath())
	if err != nil {
		t.Fatal(err)
	}
	firstLine, _, _ := strings.Cut(string(good), "\n")
	mixed := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(mixed, []byte(firstLine+"\nnot json\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	allBad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(allBad, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(dir, "clean.jsonl")
	if err := os.WriteFile(clean, []byte(firstLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		lastLine string
		events   int
	}{
		{"mixed", []string{mixed}, 1, "assistant: ingest: 2 malformed records rejected (logged above), 1 post written; --allow-malformed accepts that", 1},
		{"no valid post", []string{allBad}, 1, "assistant: ingest: 1 malformed record rejected (logged above), 0 posts written; --allow-malformed accepts that", 0},
		{"mixed allowed", []string{"--allow-malformed", mixed}, 0, "ingested 1 posts", 1},
		{"clean", []string{clean}, 0, "ingested 1 posts", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"ingest", "--dry-run", "--config", cfg}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if !strings.Contains(l, "older than posts.retention") { // the retention notice (docs/retention.md)
					lines = append(lines, l)
				}
			}
			if code != tt.code || !strings.HasPrefix(lines[len(lines)-1], tt.lastLine) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, last line %q", code, stderr, tt.code, tt.lastLine)
			}
			if n := strings.Count(stdout, "\n"); n != tt.events {
				t.Errorf("%d events written, want %d", n, tt.events)
			}
		})
	}
}

// runCLIWith runs one command line with stdin and as if stdin were (or were
// not) a terminal.
func runCLIWith(t *testing.T, stdin string, interactive bool, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, interactive: interactive}
	code := a.execute(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

// addDLQEntry writes a DLQ entry as the runner does and returns its DLQ id.
func addDLQEntry(t *testing.T, rdb *redis.Client, key, stream, stage, class, entryID, postID string) string {
	t.Helper()
	return addDLQEntryAt(t, rdb, key, "*", stream, stage, class, entryID, postID)
}

// addDLQEntryAt is addDLQEntry with the DLQ entry's own id chosen: two DLQs
// filled in the same millisecond get the same "*" id, which `dlq show`
// rightly calls ambiguous, so a test that looks an entry up by its DLQ id
// across DLQs must keep the ids apart.
func addDLQEntryAt(t *testing.T, rdb *redis.Client, key, dlqID, stream, stage, class, entryID, postID string) string {
	t.Helper()
	event := fmt.Sprintf(`{"schema_version":"v1","post_id":%q,"text":"x"}`, postID)
	original, _ := json.Marshal(map[string]string{"data": event})
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, ID: dlqID, Values: []any{
		"data", string(original), "stream", stream, "group", stage, "entry_id", entryID, "stage", stage,
		"error", "it failed", "error_class", class, "attempts", "1",
		"first_seen_at", "2026-01-02T03:04:05Z", "failed_at", "2026-01-02T03:04:06Z", "trace_id", "tr-" + postID,
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDLQShowEitherID: `dlq show` takes the DLQ id or the original entry id
// (the entry_id of the "entry dead-lettered" log line), shows every DLQ
// entry of an original dead-lettered by two stages, and lists only the
// configured streams when the id is unknown (legacy ones only when the
// legacy consumer is on).
func TestDLQShowEitherID(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	legacyCfg := testConfig(t, prefix, "", "streams:\n  legacy_consumer_enabled: true\n")
	parsedDLQ, taggedDLQ := prefix+"posts.parsed.dlq", prefix+"posts.tagged.dlq"
	byDLQID := addDLQEntry(t, rdb, parsedDLQ, "posts.parsed", "tag", "permanent", "1700000000000-0", "p1")
	addDLQEntry(t, rdb, parsedDLQ, "posts.parsed", "tag", "exhausted", "1700000000001-0", "p2")
	// The tagged DLQ's ids follow the originals (a DLQ copy is written
	// after its original) and precede any "*" id, so none equals byDLQID.
	addDLQEntryAt(t, rdb, taggedDLQ, "1700000000003-1", "posts.tagged", "persist", "exhausted", "1700000000002-0", "p3")
	addDLQEntryAt(t, rdb, taggedDLQ, "1700000000003-2", "posts.tagged", "enrich", "permanent", "1700000000002-0", "p3")

	tests := []struct {
		name, id, config string
		code             int
		want, notWant    []string
	}{
		{"dlq id", byDLQID, cfg, 0, []string{`id:\s+` + byDLQID, `"post_id": "p1"`}, []string{"p2"}},
		{"original id", "1700000000001-0", cfg, 0, []string{`entry_id:\s+1700000000001-0`, `"post_id": "p2"`}, []string{"p1"}},
		{"original id, two stages", "1700000000002-0", cfg, 0, []string{`stage:\s+persist`, `stage:\s+enrich`}, nil},
		{"unknown, legacy off", "1700000000009-0", cfg, 1, []string{"posts.parsed, posts.tagged"}, []string{"stream:posts"}},
		{"unknown, legacy on", "1700000000009-0", legacyCfg, 1, []string{`stream:posts:parsed`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, "dlq", "show", tt.id, "--config", tt.config)
			out := stdout + stderr
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	if code, _, stderr := runCLI(t, "dlq", "list", "posts.parsd", "--config", cfg); code != 1 || strings.Contains(stderr, "stream:posts") {
		t.Errorf("unknown stream with legacy off lists legacy streams: %s", stderr)
	}
}

// TestDLQListFilters: filters by class, stage, post id and time, --json with
// [] for no entries and no zero times, and the right plurals.
func TestDLQListFilters(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	key := prefix + "posts.parsed.dlq"
	addDLQEntry(t, rdb, key, "posts.parsed", "tag", "permanent", "1700000000000-0", "p1")
	addDLQEntry(t, rdb, key, "posts.parsed", "tag", "exhausted", "1700000000001-0", "p2")
	// An entry an older runner wrote, without times or a stage.
	rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: []any{"data", `{"post_id":"p3"}`, "error", "old"}})

	type listJSON struct {
		Total, Matched int64
		Entries        []map[string]any
	}
	list := func(args ...string) listJSON {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"dlq", "list", "parsed", "--json", "--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("dlq list %v: %d %s", args, code, stderr)
		}
		if strings.Contains(out, "0001-01-01") || strings.Contains(out, `"entries": null`) {
			t.Errorf("zero time or null list:\n%s", out)
		}
		var l listJSON
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return l
	}
	tests := []struct {
		name    string
		args    []string
		matched int64
		posts   []string
	}{
		{"all", nil, 3, []string{"p1", "p2", "p3"}},
		{"class", []string{"--class", "exhausted"}, 1, []string{"p2"}},
		{"stage", []string{"--stage", "tag"}, 2, []string{"p1", "p2"}},
		{"post id (legacy flat field)", []string{"--post-id", "p3"}, 1, []string{"p3"}},
		{"since an hour ago", []string{"--since", "1h"}, 3, []string{"p1", "p2", "p3"}},
		{"until an hour ago", []string{"--until", "1h"}, 0, nil},
		{"since tomorrow", []string{"--since", time.Now().Add(24 * time.Hour).Format(time.RFC3339)}, 0, nil},
		{"limit", []string{"--limit", "1", "--stage", "tag"}, 2, []string{"p1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := list(tt.args...)
			var posts []string
			for _, e := range l.Entries {
				posts = append(posts, fmt.Sprint(e["post_id"]))
			}
			if l.Total != 3 || l.Matched != tt.matched || !slices.Equal(posts, tt.posts) {
				t.Errorf("total %d matched %d posts %v, want 3 %d %v", l.Total, l.Matched, posts, tt.matched, tt.posts)
			}
		})
	}
	code, out, _ := runCLI(t, "dlq", "list", "parsed", "--class", "permanent", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, key+": 3 entries, 1 matching\n") || !strings.Contains(out, "1700000000000-0") {
		t.Errorf("table:\n%s", out)
	}
	if code, _, stderr := runCLI(t, "dlq", "list", "parsed", "--since", "yesterday", "--config", cfg); code != 1 || !strings.Contains(stderr, "--since") {
		t.Errorf("bad --since: %d %s", code, stderr)
	}
}

// TestDLQPurgeAllConfirms: purging a whole DLQ asks on a terminal, needs
// --yes elsewhere, and --dry-run changes nothing.
func TestDLQPurgeAllConfirms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	key := prefix + "posts.parsed.dlq"
	one := addDLQEntry(t, rdb, key, "posts.parsed", "tag", "permanent", "1700000000000-0", "p1")
	addDLQEntry(t, rdb, key, "posts.parsed", "tag", "permanent", "1700000000001-0", "p2")
	left := func() int64 { return rdb.XLen(ctx, key).Val() }

	steps := []struct {
		name        string
		stdin       string
		interactive bool
		args        []string
		code        int
		out         string
		left        int64
	}{
		{"no terminal, no --yes", "", false, []string{"purge", "parsed", "--all"}, 1, "refusing to purge all 2 entries of " + key + " without --yes", 2},
		{"dry run", "", false, []string{"purge", "parsed", "--all", "--dry-run"}, 0, "would purge 2 entries from " + key + " (dry run: nothing changed)", 2},
		{"dry run of ids", "", false, []string{"replay", "parsed", "--id", one, "--dry-run"}, 0, "would replay 1 entry from " + key, 2},
		{"terminal, answer no", "n\n", true, []string{"purge", "parsed", "--all"}, 1, "cancelled: did not purge all 2 entries", 2},
		{"terminal, answer yes", "y\n", true, []string{"purge", "parsed", "--all"}, 0, "purged 2 entries from " + key, 0},
		{"empty", "", false, []string{"purge", "parsed", "--all"}, 0, key + " is empty: nothing to purge", 0},
	}
	for _, s := range steps {
		code, stdout, stderr := runCLIWith(t, s.stdin, s.interactive, append(append([]string{"dlq"}, s.args...), "--config", cfg)...)
		if code != s.code || !strings.Contains(stdout+stderr, s.out) || left() != s.left {
			t.Errorf("%s: exit %d, %d left, output:\n%s%s\nwant exit %d, %d left, %q", s.name, code, left(), stdout, stderr, s.code, s.left, s.out)
		}
	}
	if _, _, stderr := runCLIWith(t, "y\n", true, "dlq", "purge", "parsed", "--all", "--config", cfg); strings.Contains(stderr, "? [y/N]") {
		t.Errorf("asked before purging an empty DLQ: %s", stderr)
	}
}

// TestStreamsJSONEmpty: an empty stream without groups has "groups": [], a
// group without consumers "consumers": [], and no zero time is printed.
func TestStreamsJSONEmpty(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	if err := rdb.XGroupCreateMkStream(context.Background(), prefix+"posts.tagged", "persist", "$").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "streams", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("%d %s", code, stderr)
	}
	for _, bad := range []string{"null", "0001-01-01"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %s:\n%s", bad, out)
		}
	}
	var reports []struct {
		Stream string `json:"stream"`
		Groups []struct {
			Name      string `json:"name"`
			Consumers []any  `json:"consumers"`
		} `json:"groups"`
		DLQLength int64 `json:"dlq_length"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatal(err)
	}
	if len(reports) < 2 || reports[0].Stream != "posts.parsed" || reports[0].Groups == nil || len(reports[0].Groups) != 0 ||
		reports[1].Stream != "posts.tagged" || len(reports[1].Groups) != 1 || reports[1].Groups[0].Consumers == nil {
		t.Errorf("reports: %+v", reports)
	}
}

// TestMigrateUpAndDown: "applied" only when something was pending, with
// how many; down asks, needs --yes off a terminal, and has --dry-run.
func TestMigrateUpAndDown(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "mig:", testenv.Postgres(t), "")
	code, out, stderr := runCLI(t, "migrate", "up", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`^applied \d+ migrations: 00001_posts\.sql, `).MatchString(out) {
		t.Fatalf("first up: %d %q %s", code, out, stderr)
	}
	last := out[strings.LastIndex(out, ", ")+2 : len(out)-1]
	if code, out, _ := runCLI(t, "migrate", "up", "--config", cfg); code != 0 || out != "no pending migration: the database is at "+last+"\n" {
		t.Errorf("second up: %d %q", code, out)
	}
	pending := func() int {
		_, out, _ := runCLI(t, "migrate", "status", "--config", cfg)
		return strings.Count(out, "pending")
	}
	steps := []struct {
		name        string
		stdin       string
		interactive bool
		args        []string
		code        int
		out         string
		pending     int
	}{
		{"no terminal", "", false, nil, 1, "migrate down: refusing to roll back " + last, 0},
		{"dry run", "", false, []string{"--dry-run"}, 0, "would roll back " + last, 0},
		{"terminal, no", "\n", true, nil, 1, "cancelled", 0},
		{"terminal, yes", "yes\n", true, nil, 0, "rolled back " + last, 1},
	}
	for _, s := range steps {
		code, stdout, stderr := runCLIWith(t, s.stdin, s.interactive, append([]string{"migrate", "down", "--config", cfg}, s.args...)...)
		if code != s.code || !strings.Contains(stdout+stderr, s.out) || pending() != s.pending {
			t.Errorf("%s: exit %d, %d pending, output:\n%s%s\nwant exit %d, %d pending, %q", s.name, code, pending(), stdout, stderr, s.code, s.pending, s.out)
		}
	}
	if code, out, _ := runCLI(t, "migrate", "up", "--config", cfg); code != 0 || out != "applied 1 migration: "+last+"\n" {
		t.Errorf("up after down: %d %q", code, out)
	}
}

// TestProcessLogging runs the binary as a process, in a directory whose
// config.yaml it finds without --config: log.format and log.level (and the
// --log-* flags over them) apply to migrate as to run, durations read as
// durations, the start-up line names the file read, a clean stop on SIGTERM
// logs no null error, and "migrations applied" appears only when some were.
func TestProcessLogging(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.Rename(testConfig(t, prefix, dbURL, ""), cfgPath); err != nil { // log.format: text
		t.Fatal(err)
	}
	duration := regexp.MustCompile(`^\d+(\.\d+)?(ns|µs|ms|s)$`)

	// The flag turns the configured text into JSON, for migrate as for run.
	code, stdout, stderr := runProcess(t, dir, nil, "migrate", "up", "--log-format", "json")
	if code != 0 || !strings.HasPrefix(stdout, "applied ") {
		t.Fatalf("migrate up: %d %q %s", code, stdout, stderr)
	}
	applied := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "migration applied" {
			applied++
			if took, _ := rec["took"].(string); !duration.MatchString(took) {
				t.Errorf("took = %#v, want a duration string", rec["took"])
			}
		}
	}
	if applied == 0 {
		t.Errorf("no migration logged:\n%s", stderr)
	}
	if code, _, stderr := runProcess(t, dir, nil, "migrate", "down", "--yes", "--log-level", "warn"); code != 0 || stderr != "" {
		t.Errorf("migrate down at warn level: %d %q", code, stderr)
	}
	code, _, stderr = runProcess(t, dir, nil, "migrate", "up")
	if code != 0 || !regexp.MustCompile(`level=INFO msg="migration applied" migration=\S+ (schema=\S+ )?direction=up took=\d+(\.\d+)?(µs|ms|s)\n`).MatchString(stderr) {
		t.Errorf("migrate up in the configured text format: %d\n%s", code, stderr)
	}

	cmd := processCommand(t, dir, nil, "run", "--stages=persist")
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), "runner started") {
		select {
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, logs.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no start within 30s:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no stop within 30s of SIGTERM")
	}
	out := logs.String()
	if !strings.Contains(out, `msg=starting `) || !regexp.MustCompile(`msg=starting .* config=`+regexp.QuoteMeta(cfgPath)+`( |\n)`).MatchString(out) {
		t.Errorf("start-up line does not name %s:\n%s", cfgPath, out)
	}
	for _, bad := range []string{"err=<nil>", "=<nil>", "database migrations applied"} {
		if strings.Contains(out, bad) {
			t.Errorf("log has %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "stopped cleanly") {
		t.Errorf("no clean stop:\n%s", out)
	}
}

// TestReplaceLogAttr: durations become duration strings, nil values vanish,
// everything else is kept.
func TestReplaceLogAttr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   slog.Attr
		want string
	}{
		{slog.Duration("took", 22943161*time.Nanosecond), "took=22.943ms"},
		{slog.Duration("wait", 1500*time.Microsecond), "wait=1.5ms"},
		{slog.Duration("age", 90*time.Second+300*time.Millisecond), "age=1m30s"},
		{slog.Duration("tiny", 1234*time.Nanosecond), "tiny=1.23µs"},
		{slog.Any("err", nil), ""},
		{slog.Any("err", error(nil)), ""},
		{slog.Any("err", errors.New("boom")), "err=boom"},
		{slog.Int("n", 3), "n=3"},
	}
	for _, tt := range tests {
		var buf strings.Builder
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return replaceLogAttr(groups, a)
		}}))
		logger.LogAttrs(context.Background(), slog.LevelInfo, "m", tt.in)
		if got := strings.TrimSpace(buf.String()); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestHealthcheck: `assistant healthcheck` exits 0 when the probed endpoint
// answers 200 and 1, with the status and reason on one line, otherwise.
// The server is an httptest stand-in for the ops handler's answers; the
// real daemon is probed in TestRunServesAndStopsCleanly.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprint(w, "ok")
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "not ready: redis: connection refused")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := testConfig(t, "hc:", "", "")

	if code, out, stderr := runCLI(t, "healthcheck", "--addr", addr); code != 0 || !strings.Contains(out, "/healthz: ok") {
		t.Errorf("liveness: %d %q %q", code, out, stderr)
	}
	code, _, stderr := runCLI(t, "healthcheck", "--ready", "--addr", addr)
	if code != 1 || stderr != "assistant: healthcheck: http://"+addr+"/readyz answered 503 Service Unavailable: not ready: redis: connection refused\n" {
		t.Errorf("readiness: %d %q", code, stderr)
	}
	// Nothing listens on the configured http.addr (port 0).
	if code, _, stderr := runCLI(t, "healthcheck", "--config", cfg); code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("no daemon: %d %q", code, stderr)
	}
	for listen, want := range map[string]string{":8000": "127.0.0.1:8000", "0.0.0.0:9": "127.0.0.1:9", "[::]:9": "127.0.0.1:9", "10.1.2.3:80": "10.1.2.3:80"} {
		if got := probeAddr(listen); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}

// TestDLQShowsBytesThatAreNotUTF8 writes a DLQ entry as the runner does
// for an original holding bytes that are not UTF-8; `dlq show` and `dlq
// list --json` show them as \xNN (not U+FFFD, not raw bytes), the raw:
// copies are not listed as extra fields, and the stored copy is untouched.
func TestDLQShowsBytesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	original := map[string]any{
		"data": "{\"post_id\":\"p9\",\"text\":\"caf\xc3\xa9 \xff\xfe\"}",
		"blob": "bin\x80ok",
	}
	m := &pipeline.Message{Stream: "posts.parsed", ID: "1700000000000-0", Attempt: 1, Values: original}
	e := pipeline.NewDLQEntry(m, "tag", pipeline.ClassPermanent, errors.New("undecodable entry: data is not valid UTF-8"), time.Now())
	key := prefix + "posts.parsed.dlq"
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: e.Encode()}).Result()
	if err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "dlq", "show", id, "--config", cfg)
	if code != 0 {
		t.Fatalf("dlq show: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"text": "café \xff\xfe"`, `blob = bin\x80ok`, `"post_id": "p9"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\uFFFD") || !utf8.ValidString(stdout) || strings.Contains(stdout, pipeline.DLQRawFieldPrefix) {
		t.Errorf("dlq show prints U+FFFD, raw bytes or the raw: fields:\n%q", stdout)
	}

	code, stdout, stderr = runCLI(t, "dlq", "list", "posts.parsed", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("dlq list --json: exit %d: %s", code, stderr)
	}
	var list struct {
		Entries []struct {
			PostID      string            `json:"post_id"`
			Data        map[string]string `json:"data"`
			DataEscaped bool              `json:"data_escaped"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list.Entries) != 1 {
		t.Fatalf("dlq list --json: %v\n%s", err, stdout)
	}
	got := list.Entries[0]
	if !got.DataEscaped || got.Data["blob"] != `bin\x80ok` || got.PostID != "p9" {
		t.Errorf("dlq list --json entry: %+v", got)
	}

	stored := pipeline.DecodeDLQEntry(rdb.XRange(context.Background(), key, "-", "+").Val()[0])
	if stored.Data["data"] != original["data"] || stored.Data["blob"] != original["blob"] {
		t.Errorf("stored copy changed: %q", stored.Data)
	}
}
