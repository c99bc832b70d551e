package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
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
)

// privateRedis runs a redis-server of its own on a free port, so the test
// can stop and restart it without disturbing the shared one.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (p *privateRedis) start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", fmt.Sprint(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server (is it installed? .ci/run installs it): %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p.port)})
	defer c.Close()
	testenv.WaitFor(p.t, "private redis to answer", 10*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (p *privateRedis) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// TestReadyzFollowsRedis proves that /readyz answers 503 naming Redis while
// Redis is down and 200 again once it is back (with the consumer group the
// empty new server lacks recreated by the runner).
func TestReadyzFollowsRedis(t *testing.T) {
	t.Parallel()
	srv := &privateRedis{t: t, port: freePort(t), dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)

	cfg := testenv.Config(t, "ready:", "")
	cfg.Redis.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", srv.port)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(newTestStage()), Metrics: reg, Stages: []string{"test-pass"},
		Pools: map[string]config.Pool{"test-pass": {Enabled: true, Workers: 1, BatchSize: 10, MaxInflight: 10}},
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
	readyz := func() (int, string) {
		resp, err := http.Get(ops.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	testenv.WaitFor(t, "ready", 10*time.Second, func() bool { code, _ := readyz(); return code == 200 })
	srv.stop()
	var body string
	testenv.WaitFor(t, "503 while redis is down", 10*time.Second, func() bool {
		var code int
		code, body = readyz()
		return code == 503
	})
	if !strings.Contains(strings.ToLower(body), "redis") {
		t.Errorf("503 body %q does not say that Redis is the problem", body)
	}
	srv.start()
	testenv.WaitFor(t, "200 once redis is back", 20*time.Second, func() bool { code, _ := readyz(); return code == 200 })
	if resp, err := http.Get(ops.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
}

// TestRunnerSurvivesRedisConnectionsKilledMidRun proves that when Redis
// drops every client connection repeatedly while entries flow (a failover,
// a proxy restart), the runner reconnects and every entry still arrives
// downstream, nothing left pending and nothing dead-lettered.
func TestRunnerSurvivesRedisConnectionsKilledMidRun(t *testing.T) {
	t.Parallel()
	srv := &privateRedis{t: t, port: freePort(t), dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)
	addr := fmt.Sprintf("127.0.0.1:%d", srv.port)
	cfg := testenv.Config(t, "blip:", "")
	cfg.Redis.URL = "redis://" + addr + "/0"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close(); admin.Close() })
	ctx := context.Background()

	const n = 3000
	pipe := admin.Pipeline()
	for i := range n {
		values, _ := events.Encode(&testEvent{N: i})
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: "blip:posts.parsed", Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(newTestStage()), Metrics: prometheus.NewRegistry(), Stages: []string{"test-slow"},
		Pools: map[string]config.Pool{"test-slow": {Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Kill every other client's connections each time another tenth of the
	// entries has gone through.
	kills := 0
	for next := int64(n / 10); next < n && kills < 5; next += n / 10 {
		testenv.WaitFor(t, "progress", 30*time.Second, func() bool { return admin.XLen(ctx, "blip:posts.tagged").Val() >= next })
		if err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		kills++
	}
	testenv.WaitFor(t, "every entry through", 60*time.Second, func() bool {
		p, err := admin.XPending(ctx, "blip:posts.parsed", "test-slow").Result()
		return err == nil && p.Count == 0 && admin.XLen(ctx, "blip:posts.tagged").Val() >= n
	})
	seen := map[int]bool{}
	for _, m := range admin.XRange(ctx, "blip:posts.tagged", "-", "+").Val() {
		var ev testEvent
		if err := events.Decode(m.Values, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.N] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d entries arrived after %d connection kills", len(seen), n, kills)
	}
	if l := admin.XLen(ctx, "blip:posts.parsed.dlq").Val(); l != 0 {
		t.Fatalf("%d entries dead-lettered by connection kills", l)
	}
	t.Logf("%d connection kills, %d outputs for %d entries", kills, admin.XLen(ctx, "blip:posts.tagged").Val(), n)
}
