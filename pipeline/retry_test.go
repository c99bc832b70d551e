package pipeline_test

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// ownRedis is a redis-server the test starts on a free port, without
// persistence, so that it can be restarted empty without touching the
// shared server.
type ownRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &ownRedis{t: t, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	testenv.WaitFor(r.t, "redis-server on "+r.addr(), 10*time.Second, func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
}

// stop kills the server (kill -9: nothing is saved, and it has no
// persistence anyway).
func (r *ownRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// TestRunnerRepublishesRetriesRedisLost: an entry waits in-process for its
// retry while Redis restarts empty (stream and group gone). The runner
// recreates the group, adds the entry's fields to the stream again and
// handles it: its output exists on the restarted Redis, and a warning names
// the old and new entry ids with the post's identifiers. Before, the entry
// was logged "dropped" and lost.
func TestRunnerRepublishesRetriesRedisLost(t *testing.T) {
	t.Parallel()
	srv := startOwnRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	prefix := "test:republish:"
	cfg := testenv.Config(t, prefix, "")
	cfg.Redis.URL = "redis://" + srv.addr() + "/0"
	// The retry waits 1.5–4.5 s (±50% jitter around 3 s): time to restart
	// Redis before it is due.
	cfg.Runner.RetryInitialBackoff = 3 * time.Second
	cfg.Runner.RetryMaxBackoff = 3 * time.Second
	var logs syncBuffer
	h := &harness{t: t, rdb: rdb, prefix: prefix, cfg: cfg, reg: prometheus.NewRegistry(), stage: newTestStage(), done: make(chan error, 1)}
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(h.stage), Metrics: h.reg, Stages: []string{"test-pass"},
		Pools:  map[string]config.Pool{"test-pass": {Enabled: true, Workers: 2, BatchSize: 10, MaxInflight: 100}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	h.runner = r
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runner logs:\n%s", logs.String())
		}
	})
	ids := h.add(t, testEvent{N: 7, FailTimes: 1}, testEvent{N: 8})
	h.start()
	testenv.WaitFor(t, "the first, failed attempt of entry 7", 10*time.Second, func() bool {
		h.stage.mu.Lock()
		defer h.stage.mu.Unlock()
		return h.stage.calls[7] == 1
	})

	srv.stop()
	srv.start()

	testenv.WaitFor(t, "entry 7's output on the restarted Redis", 20*time.Second, func() bool {
		for _, ev := range h.outputs(t) {
			if ev.N == 7 {
				return true
			}
		}
		return false
	})
	h.stage.mu.Lock()
	calls, handled := h.stage.calls[7], slices.Contains(h.stage.handled, 7)
	h.stage.mu.Unlock()
	if calls != 2 || !handled {
		t.Errorf("entry 7 handled %d times (succeeded: %v), want 2 and true", calls, handled)
	}
	testenv.WaitFor(t, "nothing pending", 10*time.Second, func() bool { return h.pending(t, "test-pass") == 0 })
	out := logs.String()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "republished") {
			line = l
		}
	}
	for _, want := range []string{"entry_id=" + ids[0], "new_entry_id=", "trace_id=trace-7", "post_id="} {
		if !strings.Contains(line, want) {
			t.Errorf("republish log line %q lacks %q\nlogs:\n%s", line, want, out)
		}
	}
	if strings.Contains(out, "dropped") {
		t.Errorf("an entry was dropped:\n%s", out)
	}
	if got := testenv.MetricValue(t, h.reg, "stage_republished_total", map[string]string{"stage": "test-pass"}); got != 1 {
		t.Errorf("stage_republished_total = %v, want 1", got)
	}
}

// TestRunnerDropsARetryAnotherConsumerAcknowledged: an entry waiting for its
// retry that is still in its stream but no longer pending for this consumer
// (another consumer took it over and acknowledged it), or gone from it
// because the runner's trimming removed it once acknowledged, is not
// republished and not handled again: republishing is only for entries a
// restarted Redis lost.
func TestRunnerDropsARetryAnotherConsumerAcknowledged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) {
		c.Runner.RetryInitialBackoff = 500 * time.Millisecond
		c.Runner.RetryMaxBackoff = 500 * time.Millisecond
	})
	ids := h.add(t, testEvent{N: 1, FailTimes: 1})
	h.start()
	testenv.WaitFor(t, "the first, failed attempt", 10*time.Second, func() bool {
		h.stage.mu.Lock()
		defer h.stage.mu.Unlock()
		return h.stage.calls[1] == 1
	})
	ctx := context.Background()
	stream := h.key(h.cfg.Streams.Parsed)
	if err := h.rdb.XAck(ctx, stream, "test-pass", ids[0]).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the retry to let the entry go", 10*time.Second, func() bool {
		return testenv.MetricValue(t, h.reg, "stage_inflight", map[string]string{"stage": "test-pass"}) == 0
	})
	h.stage.mu.Lock()
	calls := h.stage.calls[1]
	h.stage.mu.Unlock()
	if calls != 1 {
		t.Errorf("entry handled %d times, want 1 (another consumer acknowledged it)", calls)
	}
	// The acknowledged original may have been trimmed meanwhile (this Redis
	// has been up all along, so it was not lost): nothing else may be there.
	for _, m := range h.rdb.XRange(ctx, stream, "-", "+").Val() {
		if m.ID != ids[0] {
			t.Errorf("stream holds %s %v beside the original %s: republished", m.ID, m.Values, ids[0])
		}
	}
	if got := testenv.MetricValue(t, h.reg, "stage_republished_total", map[string]string{"stage": "test-pass"}); got != 0 {
		t.Errorf("stage_republished_total = %v, want 0", got)
	}
}
