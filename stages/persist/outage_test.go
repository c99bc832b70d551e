package persist_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
	"github.com/assistant-dev/assistant/stages/persist"
)

// TestPersistOutagePausesStage renames post_enrichment while persist runs in
// the real runner on real Redis and PostgreSQL: the stage pauses, /readyz
// answers 503 naming the missing table, and no entry is dead-lettered
// although the outage lasts far longer than max_attempts tries would; once
// the table is back every entry is stored, the DLQ is empty and no retry
// (attempt) was counted.
func TestPersistOutagePausesStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb, prefix := testenv.Redis(t)
	def := persist.Definition()
	def.New = func(context.Context, pipeline.Deps) (pipeline.Stage, error) { return e.stage, nil }
	cfg := testenv.Config(t, prefix, e.dbURL)
	cfg.Runner.MaxAttempts = 2
	cfg.Runner.RetryInitialBackoff = 20 * time.Millisecond
	cfg.Runner.RetryMaxBackoff = 200 * time.Millisecond
	set := persist.DefaultConfig()
	set.Pool = config.Pool{Enabled: true, Workers: 2, BatchSize: 10, MaxInflight: 100}
	cfg.Stages.Set(def.Name, set)
	reg := prometheus.NewRegistry()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(def), Stages: []string{def.Name},
		Metrics: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ops := httptest.NewServer(operator.NewOpsHandler(reg, r.Ready))
	t.Cleanup(ops.Close)

	publish := func(from, to int) {
		pipe := rdb.Pipeline()
		for i := from; i < to; i++ {
			values, err := events.Encode(tagged(fmt.Sprintf("outage-%03d", i), i, "python"))
			if err != nil {
				t.Fatal(err)
			}
			pipe.XAdd(e.ctx, &redis.XAddArgs{Stream: prefix + cfg.Streams.Tagged, Values: values})
		}
		if _, err := pipe.Exec(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() int {
		var n int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM posts WHERE post_id LIKE 'outage-%'`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	readyz := func() (int, string) {
		resp, err := http.Get(ops.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	dlqLen := func() int64 {
		n, err := rdb.XLen(e.ctx, pipeline.NewKeys(cfg).DLQ(cfg.Streams.Tagged)).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		return n
	}

	publish(0, 20)
	testenv.WaitFor(t, "20 posts stored", 30*time.Second, func() bool { return stored() == 20 })
	testenv.WaitFor(t, "ready", 10*time.Second, func() bool { code, _ := readyz(); return code == 200 })

	if _, err := e.pool.Exec(e.ctx, `ALTER TABLE post_enrichment RENAME TO post_enrichment_away`); err != nil {
		t.Fatal(err)
	}
	publish(20, 50)
	var body string
	testenv.WaitFor(t, "/readyz 503 naming post_enrichment", 30*time.Second, func() bool {
		code, b := readyz()
		body = b
		return code == http.StatusServiceUnavailable && strings.Contains(b, "post_enrichment") && strings.Contains(b, "paused")
	})
	t.Logf("readyz while paused: %s", strings.TrimSpace(body))
	// Many backoff periods (capped at 200 ms) pass: with attempts counted,
	// max_attempts=2 would have dead-lettered every entry long before.
	time.Sleep(1500 * time.Millisecond)
	if n := dlqLen(); n != 0 {
		t.Fatalf("DLQ holds %d entries during the outage, want 0", n)
	}
	if n := stored(); n != 20 {
		t.Fatalf("stored %d posts during the outage, want 20", n)
	}

	if _, err := e.pool.Exec(e.ctx, `ALTER TABLE post_enrichment_away RENAME TO post_enrichment`); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "all 50 posts stored", 30*time.Second, func() bool { return stored() == 50 })
	testenv.WaitFor(t, "ready again", 10*time.Second, func() bool { code, _ := readyz(); return code == 200 })
	if n := dlqLen(); n != 0 {
		t.Fatalf("DLQ holds %d entries, want 0", n)
	}
	if got := gatherValue(t, reg, "stage_retries_total", ""); got != 0 {
		t.Fatalf("stage_retries_total = %v: the outage spent attempts", got)
	}
	pending, err := rdb.XPending(e.ctx, prefix+cfg.Streams.Tagged, def.Name).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 0 {
		t.Fatalf("%d entries still pending", pending.Count)
	}
}

// testWriter sends the runner's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
