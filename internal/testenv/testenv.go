// Package testenv gives integration tests their own slice of the real Redis
// and PostgreSQL: a unique key prefix and a unique schema per test, removed
// when the test ends, so tests run in parallel and leave nothing behind.
//
// The servers are located by TEST_REDIS_URL / TEST_DATABASE_URL, defaulting
// to the local ones that .ci/run starts. A test that needs them fails (never
// skips) when they are unreachable.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
)

// RedisURL is the Redis server tests use.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// DatabaseURL is the PostgreSQL database tests use.
func DatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Redis returns a client and a key prefix private to this test. Every key
// under the prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s is not reachable (start it, or run .ci/run): %v", RedisURL(), err)
	}
	prefix := fmt.Sprintf("test:%s:%s:", sanitize(t.Name()), randomSuffix())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// Postgres creates a schema private to this test and returns a database URL
// whose connections use it (search_path), so migrations and tables land
// there. The schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatalf("postgres at %s is not reachable (start it, or run .ci/run): %v", DatabaseURL(), err)
	}
	defer conn.Close(ctx)
	// The schema is created here, so its drop must find it.
	schema := reserveSchema(t, "DROP SCHEMA")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(DatabaseURL())
	if err != nil {
		t.Fatalf("parse database url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SchemaName reserves a schema name private to this test without creating
// it (for code that must create it itself, like the migrations); the schema
// is dropped, if it exists, when the test ends.
func SchemaName(t testing.TB) string {
	t.Helper()
	return reserveSchema(t, "DROP SCHEMA IF EXISTS")
}

// reserveSchema names a schema private to this test and drops it with
// dropStmt ("DROP SCHEMA" or "DROP SCHEMA IF EXISTS") when the test ends.
func reserveSchema(t testing.TB, dropStmt string) string {
	t.Helper()
	schema := "t_" + strings.ToLower(sanitize(t.Name()))
	if len(schema) > 40 {
		schema = schema[:40]
	}
	schema += "_" + randomSuffix()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, DatabaseURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, dropStmt+" "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Config returns the default configuration pointed at the test's Redis
// prefix and, when dbURL is not empty, its database; the HTTP server binds an
// ephemeral port and retry timings are shortened so tests finish fast.
func Config(t testing.TB, prefix, dbURL string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Redis.URL = RedisURL()
	cfg.Redis.KeyPrefix = prefix
	if dbURL != "" {
		cfg.Database.URL = dbURL
		// The test's schema is the daemon's schema (database.schema), so
		// code reading the setting sees the schema its tables are in.
		if u, err := url.Parse(dbURL); err == nil && u.Query().Get("search_path") != "" {
			cfg.Database.Schema = u.Query().Get("search_path")
		}
	}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.API.Addr = "127.0.0.1:0"
	cfg.Log.Format = "text"
	cfg.Runner.Block = 100 * time.Millisecond
	cfg.Runner.RetryInitialBackoff = 10 * time.Millisecond
	cfg.Runner.RetryMaxBackoff = 100 * time.Millisecond
	cfg.Runner.ClaimMinIdle = 2 * time.Second
	cfg.Runner.ClaimInterval = 200 * time.Millisecond
	cfg.Runner.TrimInterval = 200 * time.Millisecond
	cfg.Runner.MetricsInterval = 200 * time.Millisecond
	cfg.Runner.ShutdownTimeout = 10 * time.Second
	return &cfg
}

func sanitize(name string) string {
	r := strings.NewReplacer("/", "_", " ", "_", ":", "_", "#", "_")
	return r.Replace(name)
}

// CorpusPost is one line of the telegram-news-ru corpus.
type CorpusPost struct {
	ChannelID int64  `json:"channel_id"`
	Channel   string `json:"channel"`
	MessageID int64  `json:"message_id"`
	Date      string `json:"date"`
	Text      string `json:"text"`
}

// SamplePath is the corpus sample committed with the repository.
func SamplePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "telegram-news-ru", "sample.jsonl")
}

// SamplePosts reads the first n posts of the committed corpus sample (all of
// them when n <= 0).
func SamplePosts(t testing.TB, n int) []CorpusPost {
	t.Helper()
	return ReadPosts(t, SamplePath(), n)
}

// ReadPosts reads the first n posts of the JSONL corpus at path (all of them
// when n <= 0): the committed sample or a full copy of the corpus.
func ReadPosts(t testing.TB, path string, n int) []CorpusPost {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var posts []CorpusPost
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() && (n <= 0 || len(posts) < n) {
		var p CorpusPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("corpus %s line %d: %v", path, len(posts)+1, err)
		}
		posts = append(posts, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read corpus %s: %v", path, err)
	}
	return posts
}

// WaitFor polls cond (every 20ms) until it holds, and fails the test
// ("timed out waiting for <what>") when timeout passes first: tests wait on
// a condition, never a fixed sleep.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MetricValue returns the value of the counter or gauge sample of metric
// name whose label set is exactly labels, from one Gather of reg; 0 when
// there is no such sample. A Gather error fails the test.
func MetricValue(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
