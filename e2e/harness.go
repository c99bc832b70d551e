// Package e2e tests the real `assistant` binary end to end: it builds the
// binary once per test binary, starts it as a subprocess against the real
// Redis and PostgreSQL (a private key prefix and schema per test, from
// internal/testenv), feeds it with the real `assistant ingest`, kills and
// restarts it, scrapes its /metrics and compares what ends up in the stores.
//
// harness.go is the reusable part: Main (for TestMain), Stack (a test's
// slice of Redis and Postgres plus the helpers that inspect it) and Daemon
// (one running `assistant run` process). Tests of later stages start their
// daemons through it the same way.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/all"
)

// binaryPath is the `assistant` binary Main built for this test binary.
var binaryPath string

// raceEnv makes Main build the daemon with the race detector (slower; CI
// runs without it, a developer chasing a race in the daemon sets it).
const raceEnv = "E2E_RACE"

// Main builds the `assistant` binary into a temporary directory, runs the
// tests and removes the directory. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "assistant-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create build directory:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	binaryPath = filepath.Join(dir, "assistant")
	if err := buildBinary(context.Background(), binaryPath); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	return m.Run()
}

// moduleRoot is the repository root (the directory above this package).
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func buildBinary(ctx context.Context, out string) error {
	args := []string{"build", "-o", out}
	if os.Getenv(raceEnv) != "" {
		args = append(args, "-race")
	}
	args = append(args, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot()
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build assistant binary: %w\n%s", err, output)
	}
	return nil
}

// Runner timings of a test daemon: short, so that claims, trims and gauges
// happen within a test's lifetime.
var testRunnerEnv = map[string]string{
	"ASSISTANT_RUNNER_BLOCK":            "100ms",
	"ASSISTANT_RUNNER_CLAIM_MIN_IDLE":   "2s",
	"ASSISTANT_RUNNER_CLAIM_INTERVAL":   "200ms",
	"ASSISTANT_RUNNER_TRIM_INTERVAL":    "200ms",
	"ASSISTANT_RUNNER_METRICS_INTERVAL": "200ms",
	"ASSISTANT_RUNNER_SHUTDOWN_TIMEOUT": "10s",
	// The corpus posts link to real sites; the tests reach none (loopback
	// only), so enrich publishes them uncrawled instead of resolving names.
	"ASSISTANT_STAGES_ENRICH_CRAWL_ENABLED": "false",
	// The corpus is from 2024: the stores must keep it for the comparisons
	// beyond the receipt floor (cleanup has its own tests).
	"ASSISTANT_POSTS_RETENTION": "87600h",
}

// Registry is the stage registry of the binary under test: the topology
// (which stage reads and writes which stream) comes from the stages' own
// definitions, so a new stage needs no change here.
var Registry = all.Registry()

// DefaultStages are the stages `assistant run` starts with the default
// configuration: every stage enabled by default, in pipeline order.
func DefaultStages() []string {
	cfg := Registry.DefaultConfig()
	var names []string
	for _, name := range Registry.Names() {
		if cfg.StageEnabled(name) {
			names = append(names, name)
		}
	}
	return names
}

// Stack is one test's slice of the real services: a Redis key prefix and a
// PostgreSQL database URL (a private schema, or a private database), with
// the helpers that feed and inspect them.
type Stack struct {
	t testing.TB
	// Redis is a client of the test's Redis (keys carry Prefix).
	Redis redis.UniversalClient
	// Prefix is the key prefix of every key of this stack.
	Prefix string
	// DatabaseURL is the daemon's database (search_path set to the
	// test's schema, or a database of its own).
	DatabaseURL string
	// Streams are the stream names (the defaults).
	Streams config.Streams
	// Keys names the prefixed Redis keys.
	Keys pipeline.Keys
	// Stages are the stages the daemons of this stack run; WaitDrained
	// requires their consumer groups to exist.
	Stages []string
	// Env is added to every process's environment (daemon and ingest),
	// after the stack's own settings, so it can override them.
	Env map[string]string

	dir    string // working directory of the processes: no config.yaml there
	logDir string
	seq    int
}

// NewStack gives the test its own Redis prefix and Postgres schema.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	return NewStackWithDatabase(t, testenv.Postgres(t))
}

// NewStackWithDatabase gives the test its own Redis prefix and uses the
// given database URL (a database the test created for itself).
func NewStackWithDatabase(t testing.TB, databaseURL string) *Stack {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := config.Default()
	cfg.Redis.KeyPrefix = prefix
	s := &Stack{
		t:           t,
		Redis:       rdb,
		Prefix:      prefix,
		DatabaseURL: databaseURL,
		Streams:     cfg.Streams,
		Keys:        pipeline.NewKeys(&cfg),
		Stages:      DefaultStages(),
		Env:         map[string]string{},
		dir:         t.TempDir(),
		logDir:      t.TempDir(),
	}
	return s
}

// environ is the environment of the stack's processes: the test's own
// environment without any setting the daemon reads, then the stack's.
func (s *Stack) environ(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, config.EnvPrefix+"_"),
			strings.HasPrefix(name, "GIGACHAT_"),
			strings.HasPrefix(name, "OPENROUTER_"),
			name == "REDIS_URL", name == "DATABASE_URL", name == "LEGACY_REDIS_CONSUMER_ENABLED",
			name == "QDRANT_URL", strings.HasPrefix(name, "NEO4J_"):
			continue
		}
		env = append(env, kv)
	}
	set := map[string]string{
		"REDIS_URL":                  testenv.RedisURL(),
		"DATABASE_URL":               s.DatabaseURL,
		"ASSISTANT_REDIS_KEY_PREFIX": s.Prefix,
		"ASSISTANT_LOG_FORMAT":       "text",
	}
	for k, v := range testRunnerEnv {
		set[k] = v
	}
	for k, v := range s.Env {
		set[k] = v
	}
	for k, v := range extra {
		set[k] = v
	}
	for _, k := range sortedKeys(set) {
		env = append(env, k+"="+set[k])
	}
	return env
}

// Ingest publishes the files to posts.parsed with the real `assistant
// ingest` subcommand and returns its standard output (the summary).
func (s *Stack) Ingest(ctx context.Context, files ...string) string {
	s.t.Helper()
	cmd := exec.CommandContext(ctx, binaryPath, append([]string{"ingest"}, files...)...)
	cmd.Dir = s.dir
	cmd.Env = s.environ(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("assistant ingest %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(files, " "), err, stdout.String(), tail(stderr.String(), 4000))
	}
	return stdout.String()
}

// Options adjust one daemon start.
type Options struct {
	// Stages, when set, is passed as --stages; else the configuration's
	// enabled stages run.
	Stages []string
	// Env is added to the environment of this start only.
	Env map[string]string
}

// Daemon is one `assistant run` subprocess.
type Daemon struct {
	stack *Stack
	opts  Options
	// Addr is the operations server's host:port.
	Addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	client  *http.Client
}

// Start starts `assistant run` and waits until /readyz answers 200. The
// process is stopped when the test ends; its log is shown if the test failed.
func (s *Stack) Start(ctx context.Context, opts Options) *Daemon {
	s.t.Helper()
	d := &Daemon{stack: s, opts: opts, client: &http.Client{Timeout: 5 * time.Second}}
	d.start(ctx)
	s.t.Cleanup(func() {
		d.shutdown()
		if s.t.Failed() {
			s.t.Logf("daemon log %s:\n%s", d.logPath, tail(readFile(d.logPath), 20000))
		}
	})
	return d
}

func (d *Daemon) start(ctx context.Context) {
	t := d.stack.t
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	d.Addr = "127.0.0.1:" + strconv.Itoa(port)
	d.stack.seq++
	d.logPath = filepath.Join(d.stack.logDir, fmt.Sprintf("daemon-%d.log", d.stack.seq))
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatalf("create daemon log: %v", err)
	}
	args := []string{"run"}
	if len(d.opts.Stages) > 0 {
		args = append(args, "--stages="+strings.Join(d.opts.Stages, ","))
	}
	extra := map[string]string{"ASSISTANT_HTTP_ADDR": d.Addr, "ASSISTANT_API_ADDR": "127.0.0.1:0"}
	for k, v := range d.opts.Env {
		extra[k] = v
	}
	cmd := exec.Command(binaryPath, args...)
	cmd.Dir = d.stack.dir
	cmd.Env = d.stack.environ(extra)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start assistant run: %v", err)
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	d.waitErr = nil
	done := d.done
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		d.waitErr = err
		close(done)
	}()
	d.waitReady(ctx)
}

// waitReady polls /readyz until it answers 200; it fails the test when the
// process exits first or the deadline passes.
func (d *Daemon) waitReady(ctx context.Context) {
	t := d.stack.t
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	last := ""
	for {
		status, body, err := d.Get(ctx, "/readyz")
		if err == nil && status == http.StatusOK {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", status, strings.TrimSpace(body))
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited before it was ready (%v); log:\n%s", d.waitErr, tail(readFile(d.logPath), 8000))
		case <-ctx.Done():
			t.Fatalf("daemon not ready: last /readyz: %s; log:\n%s", last, tail(readFile(d.logPath), 8000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID is the process id of the running daemon.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// LogPath is the file that holds the current process's stdout and stderr.
func (d *Daemon) LogPath() string { return d.logPath }

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (d *Daemon) Kill() {
	t := d.stack.t
	t.Helper()
	if !d.Running() {
		t.Fatalf("kill: daemon already exited (%v)", d.waitErr)
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill daemon: %v", err)
	}
	<-d.done
}

// Stop asks the process to stop with SIGTERM and requires a clean exit
// (status 0) within the shutdown budget.
func (d *Daemon) Stop() {
	t := d.stack.t
	t.Helper()
	if !d.Running() {
		t.Fatalf("stop: daemon already exited (%v)", d.waitErr)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop daemon: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		t.Fatalf("daemon did not stop within 30s of SIGTERM")
	}
	if d.waitErr != nil {
		t.Fatalf("daemon exit after SIGTERM: %v (want status 0); log:\n%s", d.waitErr, tail(readFile(d.logPath), 8000))
	}
}

// Restart starts a new process with the same options (after Kill or Stop)
// and waits until it is ready.
func (d *Daemon) Restart(ctx context.Context) {
	d.stack.t.Helper()
	if d.Running() {
		d.stack.t.Fatalf("restart: daemon still running")
	}
	d.start(ctx)
}

// shutdown stops a still running process at the end of the test, without
// judging how it exits.
func (d *Daemon) shutdown() {
	if !d.Running() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
}

// Get requests a path of the operations server.
func (d *Daemon) Get(ctx context.Context, path string) (status int, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.Addr+path, nil)
	if err != nil {
		return 0, "", fmt.Errorf("build request for %s: %w", path, err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("read body of %s: %w", path, err)
	}
	return resp.StatusCode, string(b), nil
}

// Metrics are the metric families of one /metrics scrape, by name.
type Metrics map[string]*dto.MetricFamily

// Metrics scrapes and parses /metrics.
func (d *Daemon) Metrics(ctx context.Context) (Metrics, error) {
	status, body, err := d.Get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return Metrics(families), nil
}

// Value sums the samples of a counter, gauge or untyped metric whose labels
// include every given label (name, value pairs); for a histogram or summary
// it sums the sample counts.
func (m Metrics) Value(name string, labels ...string) float64 {
	fam, ok := m[name]
	if !ok {
		return 0
	}
	sum := 0.0
	for _, metric := range fam.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			sum += metric.Counter.GetValue()
		case metric.Gauge != nil:
			sum += metric.Gauge.GetValue()
		case metric.Untyped != nil:
			sum += metric.Untyped.GetValue()
		case metric.Histogram != nil:
			sum += float64(metric.Histogram.GetSampleCount())
		case metric.Summary != nil:
			sum += float64(metric.Summary.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range metric.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// PipelineStreams lists the stream names of the pipeline (not the DLQs):
// the configured ones and every stream a built-in stage reads or writes.
func (s *Stack) PipelineStreams() []string {
	st := s.Streams
	out := []string{st.Parsed, st.Tagged, st.Enriched, st.Indexed, st.Deleted}
	for _, name := range Registry.Streams(st) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// DrainState says what keeps the pipeline from being drained ("" when it
// is): for every stream of the pipeline, every consumer group has lag 0 and
// nothing pending, and the group of every stage of the stack exists.
func (s *Stack) DrainState(ctx context.Context) (string, error) {
	for _, stream := range s.PipelineStreams() {
		key := s.Keys.Stream(stream)
		var wanted []string
		for _, stage := range Registry.Readers(s.Streams, stream) {
			if slices.Contains(s.Stages, stage) {
				wanted = append(wanted, stage)
			}
		}
		info, err := s.Redis.XInfoStream(ctx, key).Result()
		if err != nil {
			if strings.Contains(err.Error(), "no such key") {
				if len(wanted) > 0 {
					return fmt.Sprintf("stream %s missing (groups %v)", stream, wanted), nil
				}
				continue
			}
			return "", fmt.Errorf("xinfo stream %s: %w", key, err)
		}
		groups, err := s.Redis.XInfoGroups(ctx, key).Result()
		if err != nil {
			return "", fmt.Errorf("xinfo groups %s: %w", key, err)
		}
		for _, w := range wanted {
			if !slices.ContainsFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == w }) {
				return fmt.Sprintf("group %s missing on %s", w, stream), nil
			}
		}
		for _, g := range groups {
			if g.Pending > 0 {
				return fmt.Sprintf("%s/%s: %d pending", stream, g.Name, g.Pending), nil
			}
			switch {
			case g.Lag == 0:
			case g.Lag < 0 && !idLess(g.LastDeliveredID, info.LastGeneratedID):
				// Redis cannot count the lag (entries were trimmed
				// after the group was created), but the group has been
				// delivered the newest entry.
			default:
				return fmt.Sprintf("%s/%s: lag %d (last delivered %s, last entry %s)", stream, g.Name, g.Lag, g.LastDeliveredID, info.LastGeneratedID), nil
			}
		}
	}
	return "", nil
}

// WaitDrained polls until DrainState reports the pipeline drained; the
// test fails with the last state when timeout passes first.
func (s *Stack) WaitDrained(ctx context.Context, timeout time.Duration) {
	s.t.Helper()
	last := ""
	ok := PollUntil(ctx, timeout, 50*time.Millisecond, func() bool {
		state, err := s.DrainState(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		last = state
		return state == ""
	})
	if !ok {
		s.t.Fatalf("pipeline not drained within %s: %s", timeout, last)
	}
}

// PollUntil calls cond every interval until it reports true (then true) or
// timeout passes or ctx ends (then false).
func PollUntil(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
}

// DLQLengths returns the length of the DLQ of every pipeline stream that has
// a non-empty one.
func (s *Stack) DLQLengths(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, stream := range s.PipelineStreams() {
		n, err := s.Redis.XLen(ctx, s.Keys.DLQ(stream)).Result()
		if err != nil {
			return nil, fmt.Errorf("xlen dlq of %s: %w", stream, err)
		}
		if n > 0 {
			out[stream] = n
		}
	}
	return out, nil
}

// RequireDLQsEmpty fails the test when any DLQ holds an entry, showing the
// first entries' errors.
func (s *Stack) RequireDLQsEmpty(ctx context.Context) {
	s.t.Helper()
	lengths, err := s.DLQLengths(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for stream, n := range lengths {
		msgs, _ := s.Redis.XRangeN(ctx, s.Keys.DLQ(stream), "-", "+", 5).Result()
		var reasons []string
		for _, m := range msgs {
			reasons = append(reasons, fmt.Sprint(m.Values[pipeline.DLQFieldErrorClass], ": ", m.Values[pipeline.DLQFieldError]))
		}
		s.t.Errorf("DLQ of %s holds %d entries, first: %s", stream, n, strings.Join(reasons, " | "))
	}
}

// RequireOneRowPerPost fails the test unless posts and the tags rows each
// hold exactly n rows for n distinct posts: every post stored, none twice.
func (s *Stack) RequireOneRowPerPost(ctx context.Context, n int) {
	s.t.Helper()
	for _, q := range []struct{ what, total, distinct string }{
		{"posts", `SELECT count(*) FROM posts`, `SELECT count(DISTINCT post_id) FROM posts`},
		{"tags rows", `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`, `SELECT count(DISTINCT post_id) FROM post_enrichment WHERE kind = 'tags'`},
	} {
		total, err := s.CountRows(ctx, q.total)
		if err != nil {
			s.t.Fatal(err)
		}
		distinct, err := s.CountRows(ctx, q.distinct)
		if err != nil {
			s.t.Fatal(err)
		}
		if total != n || distinct != n {
			s.t.Errorf("%s: %d rows for %d posts, want %d of each", q.what, total, distinct, n)
		}
	}
}

// Connect opens a connection to the stack's database (its schema).
func (s *Stack) Connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to the test database: %w", err)
	}
	return conn, nil
}

// CountRows runs a SELECT count(*) query against the stack's database.
func (s *Stack) CountRows(ctx context.Context, query string, args ...any) (int, error) {
	conn, err := s.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows: %w", err)
	}
	return n, nil
}

// PostRow is the part of a posts row that a clean run determines (no
// timestamps of the write).
type PostRow struct {
	ChannelID   string
	TenantID    string
	Text        string
	URLs        []string
	PostedAt    time.Time
	ExpiresAt   time.Time
	ContentHash string
}

// TagsRow is the part of a post_enrichment kind='tags' row that a clean run
// determines (no timestamps, trace ids or latencies).
type TagsRow struct {
	Tags          []string
	TagsHash      string // data.tags_hash
	DataHash      string
	Provider      string // the column
	DataProvider  string // data.provider
	Model         string
	PromptVersion string
	Status        string
	Error         string
}

// Snapshot is what the stores hold, by post_id.
type Snapshot struct {
	Posts map[string]PostRow
	Tags  map[string]TagsRow
}

// Snapshot reads every posts row and every tags row of the stack.
func (s *Stack) Snapshot(ctx context.Context) (Snapshot, error) {
	conn, err := s.Connect(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer conn.Close(ctx)
	snap := Snapshot{Posts: map[string]PostRow{}, Tags: map[string]TagsRow{}}
	rows, err := conn.Query(ctx, `
SELECT post_id, COALESCE(channel_id, ''), COALESCE(tenant_id, ''), COALESCE(text, ''), urls,
       posted_at, expires_at, COALESCE(content_hash, '')
FROM posts`)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read posts: %w", err)
	}
	for rows.Next() {
		var (
			id                  string
			p                   PostRow
			urls                []byte
			postedAt, expiresAt pgtype.Timestamptz
		)
		if err := rows.Scan(&id, &p.ChannelID, &p.TenantID, &p.Text, &urls, &postedAt, &expiresAt, &p.ContentHash); err != nil {
			rows.Close()
			return Snapshot{}, fmt.Errorf("scan posts: %w", err)
		}
		if urls != nil {
			if err := json.Unmarshal(urls, &p.URLs); err != nil {
				rows.Close()
				return Snapshot{}, fmt.Errorf("post %s: decode urls: %w", id, err)
			}
		}
		p.PostedAt, p.ExpiresAt = postedAt.Time.UTC(), expiresAt.Time.UTC()
		snap.Posts[id] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("read posts: %w", err)
	}

	rows, err = conn.Query(ctx, `
SELECT post_id, data, COALESCE(data_hash, ''), COALESCE(provider, ''), status, COALESCE(error, '')
FROM post_enrichment WHERE kind = 'tags'`)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read tags rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			data []byte
			r    TagsRow
		)
		if err := rows.Scan(&id, &data, &r.DataHash, &r.Provider, &r.Status, &r.Error); err != nil {
			return Snapshot{}, fmt.Errorf("scan tags rows: %w", err)
		}
		var doc struct {
			Tags          []string `json:"tags"`
			TagsHash      string   `json:"tags_hash"`
			Provider      string   `json:"provider"`
			Model         string   `json:"model"`
			PromptVersion string   `json:"prompt_version"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return Snapshot{}, fmt.Errorf("post %s: decode tags data: %w", id, err)
		}
		r.Tags, r.TagsHash, r.DataProvider, r.Model, r.PromptVersion = doc.Tags, doc.TagsHash, doc.Provider, doc.Model, doc.PromptVersion
		snap.Tags[id] = r
	}
	if err := rows.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("read tags rows: %w", err)
	}
	return snap, nil
}

// Diff lists the differences between two snapshots (at most limit of them,
// then a count of the rest); empty when they are equal.
func (s Snapshot) Diff(other Snapshot, limit int) []string {
	var diffs []string
	total := 0
	add := func(format string, args ...any) {
		total++
		if len(diffs) < limit {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	for _, id := range unionKeys(s.Posts, other.Posts) {
		a, inA := s.Posts[id]
		b, inB := other.Posts[id]
		switch {
		case !inA:
			add("posts %s: only in the second snapshot", id)
		case !inB:
			add("posts %s: only in the first snapshot", id)
		case !reflect.DeepEqual(normalizePost(a), normalizePost(b)):
			add("posts %s differs: %+v != %+v", id, a, b)
		}
	}
	for _, id := range unionKeys(s.Tags, other.Tags) {
		a, inA := s.Tags[id]
		b, inB := other.Tags[id]
		switch {
		case !inA:
			add("tags %s: only in the second snapshot", id)
		case !inB:
			add("tags %s: only in the first snapshot", id)
		case !reflect.DeepEqual(normalizeTags(a), normalizeTags(b)):
			add("tags %s differs: %+v != %+v", id, a, b)
		}
	}
	if total > len(diffs) {
		diffs = append(diffs, fmt.Sprintf("... and %d more differences", total-len(diffs)))
	}
	return diffs
}

func normalizePost(p PostRow) PostRow {
	if len(p.URLs) == 0 {
		p.URLs = nil
	}
	return p
}

func normalizeTags(r TagsRow) TagsRow {
	if len(r.Tags) == 0 {
		r.Tags = nil
	}
	return r
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := make(map[string]bool, len(a)+len(b))
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// idLess compares two stream entry ids; an unparsable id sorts first.
func idLess(a, b string) bool {
	ia, errA := pipeline.ParseStreamID(a)
	ib, errB := pipeline.ParseStreamID(b)
	if errA != nil || errB != nil {
		return errA != nil && errB == nil
	}
	return ia.Less(ib)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen on an ephemeral port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	return string(b)
}

// tail returns the last n bytes of s, starting at a line boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "...\n" + s
}

// WriteJSONL writes values as JSON lines to a new file in dir.
func WriteJSONL[T any](dir, name string, values []T) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			_ = f.Close()
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", path, err)
	}
	return path, nil
}

// HealthWatch polls /healthz in the background and records every answer
// that is not 200, and whether the daemon's process changed.
type HealthWatch struct {
	mu       sync.Mutex
	failures []string
	polls    int
	stop     chan struct{}
	done     chan struct{}
}

// WatchHealth starts polling /healthz every interval until Stop.
func (d *Daemon) WatchHealth(ctx context.Context, interval time.Duration) *HealthWatch {
	w := &HealthWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			status, _, err := d.Get(ctx, "/healthz")
			w.mu.Lock()
			w.polls++
			switch {
			case err != nil:
				w.failures = append(w.failures, err.Error())
			case status != http.StatusOK:
				w.failures = append(w.failures, fmt.Sprintf("status %d", status))
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends the polling and returns how often it polled and the failures.
func (w *HealthWatch) Stop() (polls int, failures []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, slices.Clone(w.failures)
}
