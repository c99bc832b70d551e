package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// The crash test runs the runner in a separate process — this test binary
// re-executed with daemonEnv set — so that it can be killed with SIGKILL.
const daemonEnv = "PIPELINE_TEST_DAEMON_PREFIX"

// daemonHeartbeatEnv, when set, gives the daemon that heartbeat and claim
// interval and a claim_min_idle of 10 minutes: only the heartbeats can then
// hand its entries over to another replica in a test's time.
const daemonHeartbeatEnv = "PIPELINE_TEST_DAEMON_HEARTBEAT"

// daemonClusterEnv, when set, holds the comma-separated seed addresses of a
// Redis Cluster the daemon uses instead of the shared Redis, and
// daemonPartitionsEnv its streams.partitions.
const (
	daemonClusterEnv    = "PIPELINE_TEST_DAEMON_CLUSTER"
	daemonPartitionsEnv = "PIPELINE_TEST_DAEMON_PARTITIONS"
)

func TestMain(m *testing.M) {
	if prefix := os.Getenv(daemonEnv); prefix != "" {
		os.Exit(runTestDaemon(prefix))
	}
	os.Exit(m.Run())
}

// runTestDaemon runs the slow test stage on the given key prefix until
// SIGTERM, like `assistant run` does with real stages.
func runTestDaemon(prefix string) int {
	cfg := config.Default()
	cfg.Redis.URL = testenv.RedisURL()
	cfg.Redis.KeyPrefix = prefix
	cfg.Runner.Block = 100 * time.Millisecond
	cfg.Runner.ClaimMinIdle = time.Second
	cfg.Runner.ClaimInterval = 100 * time.Millisecond
	if hb := os.Getenv(daemonHeartbeatEnv); hb != "" {
		d, err := time.ParseDuration(hb)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		cfg.Runner.HeartbeatInterval, cfg.Runner.ClaimInterval, cfg.Runner.ClaimMinIdle = d, d, 10*time.Minute
	}
	if n := os.Getenv(daemonPartitionsEnv); n != "" {
		p, err := strconv.Atoi(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		cfg.Streams.Partitions = p
	}
	var rdb redis.UniversalClient
	if addrs := os.Getenv(daemonClusterEnv); addrs != "" {
		// As the daemon's client (cli connectRedis): a slot map at most
		// 2 s stale, so a failover is seen without a MOVED.
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ","), ClusterStateReloadInterval: 2 * time.Second})
	} else {
		opts, err := redis.ParseURL(cfg.Redis.URL)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		rdb = redis.NewClient(opts)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: &cfg, Redis: rdb, Registry: testRegistry(newTestStage()), Stages: []string{"test-slow"},
		Pools: map[string]config.Pool{"test-slow": {Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := r.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// slowStage takes about a millisecond per entry, so a kill lands mid-run.
type slowStage struct{ out string }

func (s slowStage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		var ev testEvent
		if err := m.Decode(&ev); err != nil {
			m.Fail(err)
			continue
		}
		time.Sleep(time.Millisecond)
		if err := m.Publish(s.out, &ev); err != nil {
			return err
		}
	}
	return nil
}

// seedEvents adds test events 0..n-1 to stream in one pipeline.
func seedEvents(t *testing.T, rdb redis.Cmdable, stream string, n int) {
	t.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range n {
		ev := testEvent{N: i}
		ev.SchemaVersion = events.SchemaV1
		ev.TraceID = "trace-" + strconv.Itoa(i)
		values, err := events.Encode(&ev)
		if err != nil {
			t.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// outputCounts counts the outputs of each event number.
func outputCounts(t *testing.T, rdb redis.Cmdable, key string) map[int]int {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for _, m := range msgs {
		var ev testEvent
		if err := events.Decode(m.Values, &ev); err != nil {
			t.Fatal(err)
		}
		counts[ev.N]++
	}
	return counts
}

func startDaemon(t *testing.T, prefix string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), daemonEnv+"="+prefix), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	return cmd
}

func TestRunnerSurvivesSIGKILLWithoutLosingEntries(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	in, out := prefix+"posts.parsed", prefix+"posts.tagged"
	const n = 3000
	seedEvents(t, rdb, in, n)

	first := startDaemon(t, prefix)
	testenv.WaitFor(t, "the first daemon to be mid-run", 30*time.Second, func() bool {
		return rdb.XLen(ctx, out).Val() >= n/4
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	pend, err := rdb.XPending(ctx, in, "test-slow").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pend.Count == 0 {
		t.Fatal("the killed daemon left nothing pending; the kill did not land mid-run")
	}
	deadConsumers := pend.Consumers
	t.Logf("killed with %d outputs written and %d entries pending in %v", rdb.XLen(ctx, out).Val(), pend.Count, deadConsumers)

	second := startDaemon(t, prefix)
	t.Cleanup(func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
	})
	testenv.WaitFor(t, "every entry processed after the restart", 60*time.Second, func() bool {
		p, err := rdb.XPending(ctx, in, "test-slow").Result()
		return err == nil && p.Count == 0 && rdb.XLen(ctx, out).Val() >= n
	})
	seen := outputCounts(t, rdb, out)
	for i := range n {
		if seen[i] == 0 {
			t.Fatalf("entry %d was lost across the SIGKILL", i)
		}
	}
	// The dead consumer's entries were claimed by the new process: it has
	// none pending any more.
	consumers, err := rdb.XInfoConsumers(ctx, in, "test-slow").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range consumers {
		if _, dead := deadConsumers[c.Name]; dead && c.Pending != 0 {
			t.Fatalf("dead consumer %s still holds %d entries", c.Name, c.Pending)
		}
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v (want exit code 0)", err)
	}
	outputs := int(rdb.XLen(ctx, out).Val())
	t.Logf("%d outputs for %d entries (%d redelivered after the kill)", outputs, n, outputs-n)
}
