package pipeline_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// replica is one runner of a stage on a shared key prefix, as a replica of
// a deployment: replicas of one test differ by their consumer names.
type replica struct {
	runner *pipeline.Runner
	reg    *prometheus.Registry
	stage  *testStage
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err
	err    error
}

func startReplica(t *testing.T, rdb *redis.Client, cfg *config.Config, stage string, pool config.Pool, n int) *replica {
	t.Helper()
	return startReplicaWith(t, rdb, cfg, stage, pool, n, newTestStage())
}

// startReplicaWith starts a replica whose test stage is st.
func startReplicaWith(t *testing.T, rdb *redis.Client, cfg *config.Config, stage string, pool config.Pool, n int, st *testStage) *replica {
	t.Helper()
	rp := &replica{reg: prometheus.NewRegistry(), stage: st, done: make(chan struct{})}
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(rp.stage), Metrics: rp.reg, Stages: []string{stage},
		Pools: map[string]config.Pool{stage: pool}, Replica: n,
	})
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	rp.runner = r
	ctx, cancel := context.WithCancel(context.Background())
	rp.cancel = cancel
	go func() { rp.err = r.Run(ctx); close(rp.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rp.done:
		case <-time.After(15 * time.Second):
			t.Errorf("replica %d did not stop", n)
		}
	})
	return rp
}

// stop cancels the replica's run and returns Run's error.
func (rp *replica) stop(t *testing.T) error {
	t.Helper()
	rp.cancel()
	select {
	case <-rp.done:
		return rp.err
	case <-time.After(30 * time.Second):
		t.Fatal("replica did not stop")
		return nil
	}
}

// heartbeatConfig is the test configuration with short heartbeats and
// claim ticks and a claim_min_idle of 10 minutes: within a test, only the
// heartbeats can move entries between replicas.
func heartbeatConfig(t *testing.T, prefix string) *config.Config {
	cfg := testenv.Config(t, prefix, "")
	cfg.Runner.HeartbeatInterval = 100 * time.Millisecond
	cfg.Runner.ClaimInterval = 100 * time.Millisecond
	cfg.Runner.ClaimMinIdle = 10 * time.Minute
	return cfg
}

func consumerPending(t *testing.T, rdb *redis.Client, key, group, consumer string) (pending int64, idle time.Duration) {
	t.Helper()
	consumers, err := rdb.XInfoConsumers(context.Background(), key, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range consumers {
		if c.Name == consumer {
			return c.Pending, c.Idle
		}
	}
	return 0, 0
}

// TestRunnerTakesOverAKilledReplicaAtOnce: a replica killed with SIGKILL
// leaves entries pending; with claim_min_idle at 10 minutes, a second
// replica takes all of them over as soon as the dead one's heartbeat is
// stale (a few claim intervals), and every entry is handled exactly once.
func TestRunnerTakesOverAKilledReplicaAtOnce(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	in, out := prefix+"posts.parsed", prefix+"posts.tagged"
	const n = 3000
	seedEvents(t, rdb, in, n)

	first := startDaemon(t, prefix, daemonHeartbeatEnv+"=100ms")
	testenv.WaitFor(t, "the first replica to be mid-run", 30*time.Second, func() bool {
		return rdb.XLen(ctx, out).Val() >= n/4
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killed := time.Now()
	pend, err := rdb.XPending(ctx, in, "test-slow").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pend.Count == 0 || len(pend.Consumers) != 1 {
		t.Fatalf("the killed replica left %d entries pending in %v; want some, in its one consumer", pend.Count, pend.Consumers)
	}
	var dead string
	for c := range pend.Consumers {
		dead = c
	}

	second := startReplica(t, rdb, heartbeatConfig(t, prefix), "test-slow",
		config.Pool{Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}, 1)
	// claim_min_idle is 10 minutes: only the takeover can meet this.
	testenv.WaitFor(t, "the killed replica's entries taken over", 30*time.Second, func() bool {
		p, _ := consumerPending(t, rdb, in, "test-slow", dead)
		return p == 0
	})
	tookOver := time.Since(killed)
	testenv.WaitFor(t, "every entry handled", 60*time.Second, func() bool {
		p, err := rdb.XPending(ctx, in, "test-slow").Result()
		return err == nil && p.Count == 0 && rdb.XLen(ctx, out).Val() >= n
	})
	counts := outputCounts(t, rdb, out)
	for i := range n {
		if counts[i] != 1 {
			t.Errorf("entry %d has %d outputs, want exactly 1", i, counts[i])
		}
	}
	if got := testenv.MetricValue(t, second.reg, "stage_claimed_total", map[string]string{"stage": "test-slow", "reason": pipeline.ClaimConsumerGone}); got != float64(pend.Count) {
		t.Errorf("stage_claimed_total{reason=consumer_gone} = %v, want the %d entries of the killed replica", got, pend.Count)
	}
	t.Logf("%d entries of the killed replica all taken over %s after the kill (heartbeat 100ms, claim interval 100ms)", pend.Count, tookOver.Round(time.Millisecond))
}

// TestRunnerLeavesALiveSlowReplicaItsEntries: a replica whose handlers are
// stuck on slow entries, at capacity and so neither reading nor claiming
// (idle in XINFO CONSUMERS far beyond the grace given to consumers without
// a heartbeat), keeps its entries while its heartbeat is renewed; another
// replica handles the rest and takes none of them.
func TestRunnerLeavesALiveSlowReplicaItsEntries(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	cfg := heartbeatConfig(t, prefix)
	in, out := prefix+cfg.Streams.Parsed, prefix+cfg.Streams.Tagged
	add := func(evs ...testEvent) {
		for _, ev := range evs {
			values, _ := events.Encode(&ev)
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: in, Values: values}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(testEvent{N: 0, Block: true}, testEvent{N: 1, Block: true})
	slow := startReplica(t, rdb, cfg, "test-pass", config.Pool{Enabled: true, Workers: 2, BatchSize: 2, MaxInflight: 2}, 0)
	for range 2 {
		select {
		case <-slow.stage.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow replica did not start its two entries")
		}
	}
	other := startReplica(t, rdb, cfg, "test-pass", config.Pool{Enabled: true, Workers: 4, BatchSize: 100, MaxInflight: 1000}, 1)
	for i := 2; i < 22; i++ {
		add(testEvent{N: i})
	}
	slowConsumer := slow.runner.StageStates()[0].Consumer
	testenv.WaitFor(t, "the other replica to handle the rest while the slow one idles", 30*time.Second, func() bool {
		_, idle := consumerPending(t, rdb, in, "test-pass", slowConsumer)
		return len(outputCounts(t, rdb, out)) == 20 && idle > 10*cfg.Runner.ClaimInterval
	})
	if p, idle := consumerPending(t, rdb, in, "test-pass", slowConsumer); p != 2 {
		t.Fatalf("the slow replica holds %d entries after idling %s, want its 2: it was robbed", p, idle)
	}
	if got := testenv.MetricValue(t, other.reg, "stage_claimed_total", map[string]string{"stage": "test-pass", "reason": pipeline.ClaimConsumerGone}); got != 0 {
		t.Errorf("the other replica took over %v entries of a live one", got)
	}
	close(slow.stage.release)
	testenv.WaitFor(t, "the slow replica to finish", 30*time.Second, func() bool {
		p, err := rdb.XPending(ctx, in, "test-pass").Result()
		return err == nil && p.Count == 0 && len(outputCounts(t, rdb, out)) == 22
	})
	for n, c := range outputCounts(t, rdb, out) {
		if c != 1 {
			t.Errorf("entry %d has %d outputs, want exactly 1", n, c)
		}
	}
}

// TestRunnerShutdownFinishesRetries: at shutdown, an entry waiting for a
// retry due before the deadline is retried and acknowledged, not handed
// back; one whose retry is due after the deadline, or that waits for a
// dependency that is down, is handed back at once (the stop does not wait
// out the deadline), the consumer's heartbeat says it stopped, and another
// replica takes the entry over at once (claim_min_idle is 10 minutes).
func TestRunnerShutdownFinishesRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ev       testEvent
		finished bool // handled and acknowledged by the stopping replica
		down     bool // the first replica's store is down
	}{
		{"retry due before the deadline", testEvent{N: 1, FailTimes: 1}, true, false},
		{"retry due after the deadline", testEvent{N: 1, RetryAfterMS: 60_000}, false, false},
		{"parked by an outage", testEvent{N: 1, Outage: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			ctx := context.Background()
			cfg := heartbeatConfig(t, prefix)
			cfg.Runner.RetryInitialBackoff = 300 * time.Millisecond
			cfg.Runner.RetryMaxBackoff = 300 * time.Millisecond
			cfg.Runner.ShutdownTimeout = 5 * time.Second
			in, out := prefix+cfg.Streams.Parsed, prefix+cfg.Streams.Tagged
			values, _ := events.Encode(&tc.ev)
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: in, Values: values}).Err(); err != nil {
				t.Fatal(err)
			}
			pool := config.Pool{Enabled: true, Workers: 2, BatchSize: 10, MaxInflight: 10}
			st := newTestStage()
			st.down.Store(tc.down)
			first := startReplicaWith(t, rdb, cfg, "test-pass", pool, 0, st)
			consumer := first.runner.StageStates()[0].Consumer
			testenv.WaitFor(t, "the first attempt to fail", 10*time.Second, func() bool {
				first.stage.mu.Lock()
				defer first.stage.mu.Unlock()
				return first.stage.calls[1] == 1
			})
			// A stop that waited out the deadline would fail: the entry
			// would then be cut off mid-attempt.
			if err := first.stop(t); err != nil {
				t.Fatalf("stop: %v", err)
			}
			pending, _ := consumerPending(t, rdb, in, "test-pass", consumer)
			if tc.finished {
				if n := len(outputCounts(t, rdb, out)); n != 1 || pending != 0 {
					t.Fatalf("after the stop: %d outputs, %d pending; want the retry done and acknowledged", n, pending)
				}
				if keys := rdb.Keys(ctx, prefix+"heartbeat:*").Val(); len(keys) != 0 {
					t.Errorf("heartbeat left after a stop with nothing pending: %v", keys)
				}
				return
			}
			if pending != 1 || len(outputCounts(t, rdb, out)) != 0 {
				t.Fatalf("after the stop: %d pending; want the entry handed back unhandled", pending)
			}
			first.stage.mu.Lock()
			calls := first.stage.calls[1]
			first.stage.mu.Unlock()
			if calls != 1 {
				t.Errorf("the stopping replica tried the entry %d times, want 1: handed back at once, not tried again while stopping", calls)
			}
			if state := rdb.Get(ctx, prefix+"heartbeat:test-pass:"+consumer).Val(); state != "stopped" {
				t.Fatalf("heartbeat of a consumer that left an entry pending is %q, want stopped", state)
			}
			// The rate limit was met on the first call; it has passed now.
			again := newTestStage()
			again.calls[1] = 1
			second := startReplicaWith(t, rdb, cfg, "test-pass", pool, 1, again)
			testenv.WaitFor(t, "the other replica to take the entry over", 20*time.Second, func() bool {
				return len(outputCounts(t, rdb, out)) == 1
			})
			second.stage.mu.Lock()
			attempts := second.stage.attempts[1]
			second.stage.mu.Unlock()
			if len(attempts) != 1 || attempts[0] != 2 {
				t.Errorf("the taking replica saw attempts %v, want [2] (the second delivery)", attempts)
			}
		})
	}
}

// TestRunnerTakesOverStoppedConsumers: the entries of a consumer are taken
// over, whatever claim_min_idle says, once its heartbeat says it stopped,
// once its heartbeat goes stale (the claimer looks again right then, not a
// claim_interval later), or — a consumer from before heartbeats — once it
// has no key and has been idle beyond the grace. Each entry arrives as its
// second delivery.
func TestRunnerTakesOverStoppedConsumers(t *testing.T) {
	const dead = "dead-1-test-pass-0"
	for _, tc := range []struct {
		name          string
		heartbeat     string        // value of the dead consumer's key; "" = none
		ttl           time.Duration // its TTL
		claimInterval time.Duration
	}{
		{"heartbeat says stopped", "stopped", time.Minute, 10 * time.Minute},
		{"heartbeat goes stale", "alive 100", time.Second, 10 * time.Minute},
		{"no heartbeat, idle beyond the grace", "", 0, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			ctx := context.Background()
			cfg := heartbeatConfig(t, prefix)
			cfg.Runner.ClaimInterval = tc.claimInterval
			in, out := prefix+cfg.Streams.Parsed, prefix+cfg.Streams.Tagged
			for i := range 5 {
				values, _ := events.Encode(&testEvent{N: i})
				if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: in, Values: values}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rdb.XGroupCreateMkStream(ctx, in, "test-pass", "0").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "test-pass", Consumer: dead, Streams: []string{in, ">"}, Count: 5}).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.heartbeat != "" {
				if err := rdb.Set(ctx, prefix+"heartbeat:test-pass:"+dead, tc.heartbeat, tc.ttl).Err(); err != nil {
					t.Fatal(err)
				}
			}
			rp := startReplica(t, rdb, cfg, "test-pass", config.Pool{Enabled: true, Workers: 2, BatchSize: 10, MaxInflight: 100}, 0)
			testenv.WaitFor(t, "the entries taken over and handled", 20*time.Second, func() bool {
				p, _ := consumerPending(t, rdb, in, "test-pass", dead)
				return p == 0 && len(outputCounts(t, rdb, out)) == 5
			})
			if got := testenv.MetricValue(t, rp.reg, "stage_claimed_total", map[string]string{"stage": "test-pass", "reason": pipeline.ClaimConsumerGone}); got != 5 {
				t.Errorf("stage_claimed_total{reason=consumer_gone} = %v, want 5", got)
			}
			rp.stage.mu.Lock()
			defer rp.stage.mu.Unlock()
			for i := range 5 {
				if a := rp.stage.attempts[i]; len(a) != 1 || a[0] != 2 {
					t.Errorf("entry %d handled as attempts %v, want [2]", i, a)
				}
			}
		})
	}
}
