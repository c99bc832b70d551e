package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// testEvent is the event the test stages move: a number and instructions
// for the stage.
type testEvent struct {
	events.Envelope
	N int `json:"n"`
	// PostID places the event in its partition (partitioned streams).
	PostID    string `json:"post_id,omitempty"`
	FailTimes int    `json:"fail_times,omitempty"` // transient failures before success; -1 = always
	Permanent bool   `json:"permanent,omitempty"`
	Block     bool   `json:"block,omitempty"` // wait for the test to release it
	Panic     bool   `json:"panic,omitempty"` // panic in Handle
	// RetryAfterMS fails the first attempt with a Retry-After hint.
	RetryAfterMS int    `json:"retry_after_ms,omitempty"`
	Pad          string `json:"pad,omitempty"`
	// Outage fails the entry as Unavailable while the stage's down flag
	// is set (a store outage).
	Outage bool `json:"outage,omitempty"`
	// Fault fails the entry with this unmarked error while the stage's
	// down flag is set: the error a dependency answers, as the stage got
	// it (faultErrors).
	Fault string `json:"fault,omitempty"`
}

func (e *testEvent) Validate() error { return nil }

// testStage publishes every input to posts.tagged, failing as each event
// asks. One instance per harness, handed to the runner through the
// harness's own registry.
type testStage struct {
	out      string
	mu       sync.Mutex
	calls    map[int]int
	handled  []int
	release  chan struct{}
	started  chan int
	attempts map[int][]int
	times    map[int][]time.Time
	down     atomic.Bool
	// checkPasses makes checkedStage's health check pass while down.
	checkPasses atomic.Bool
}

func (s *testStage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		var ev testEvent
		if err := m.Decode(&ev); err != nil {
			m.Fail(err)
			continue
		}
		s.mu.Lock()
		s.calls[ev.N]++
		calls := s.calls[ev.N]
		s.attempts[ev.N] = append(s.attempts[ev.N], m.Attempt)
		s.times[ev.N] = append(s.times[ev.N], time.Now())
		s.mu.Unlock()
		if ev.Panic {
			panic(fmt.Sprintf("event %d makes the stage panic", ev.N))
		}
		if ev.RetryAfterMS > 0 && calls == 1 {
			m.Fail(pipeline.RetryAfter(fmt.Errorf("event %d: rate limited", ev.N), time.Duration(ev.RetryAfterMS)*time.Millisecond))
			continue
		}
		if ev.Fault != "" && s.down.Load() {
			m.Fail(fmt.Errorf("event %d: %w", ev.N, faultErrors[ev.Fault]))
			continue
		}
		if ev.Outage && s.down.Load() {
			m.Fail(pipeline.Unavailable(fmt.Errorf("event %d: store down: connection refused", ev.N)))
			continue
		}
		if ev.Block {
			select {
			case s.started <- ev.N:
			default:
			}
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		switch {
		case ev.Permanent:
			m.Fail(pipeline.Permanent(fmt.Errorf("event %d is permanently bad", ev.N)))
			continue
		case ev.FailTimes < 0 || calls <= ev.FailTimes:
			m.Fail(fmt.Errorf("event %d: transient failure %d", ev.N, calls))
			continue
		}
		s.mu.Lock()
		s.handled = append(s.handled, ev.N)
		s.mu.Unlock()
		if err := m.Publish(s.out, &ev); err != nil {
			return err
		}
	}
	return nil
}

func newTestStage() *testStage {
	return &testStage{
		calls: map[int]int{}, attempts: map[int][]int{}, times: map[int][]time.Time{},
		release: make(chan struct{}), started: make(chan int, 16),
	}
}

// testRegistry is an isolated registry of the test stages, all built around
// stage: test-pass (one message per call), test-batch (whole batches),
// test-legacy (also reads the old worker's key) and test-slow.
func testRegistry(stage *testStage) *pipeline.Registry {
	build := func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
		stage.out = deps.Config.Streams.Tagged
		return stage, nil
	}
	tagged := func(s config.Streams) []string { return []string{s.Tagged} }
	return pipeline.MustRegistry(
		pipeline.Definition{Name: "test-pass", Input: func(s config.Streams) string { return s.Parsed }, Outputs: tagged, New: build},
		pipeline.Definition{Name: "test-batch", Input: func(s config.Streams) string { return s.Parsed }, Outputs: tagged, Batch: true, New: build},
		pipeline.Definition{
			Name:        "test-legacy",
			Input:       func(s config.Streams) string { return s.Parsed },
			LegacyInput: func(s config.Streams) string { return s.LegacyParsed },
			Outputs:     tagged,
			New:         build,
		},
		pipeline.Definition{
			Name:    "test-checked",
			Input:   func(s config.Streams) string { return s.Parsed },
			Outputs: tagged,
			New: func(ctx context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
				st, err := build(ctx, deps)
				return checkedStage{st.(*testStage)}, err
			},
		},
		pipeline.Definition{
			Name:    "test-slow",
			Input:   func(s config.Streams) string { return s.Parsed },
			Outputs: tagged,
			New: func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
				return slowStage{out: deps.Config.Streams.Tagged}, nil
			},
		},
	)
}

// harness is one runner on its own key prefix of the real Redis.
type harness struct {
	t      *testing.T
	rdb    *redis.Client
	prefix string
	cfg    *config.Config
	reg    *prometheus.Registry
	stage  *testStage
	runner *pipeline.Runner
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, stage string, tweak func(*config.Config, *config.Pool)) *harness {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	pool := config.Pool{Enabled: true, Workers: 4, BatchSize: 100, MaxInflight: 1000}
	if tweak != nil {
		tweak(cfg, &pool)
	}
	h := &harness{t: t, rdb: rdb, prefix: prefix, cfg: cfg, reg: prometheus.NewRegistry(), stage: newTestStage(), done: make(chan error, 1)}
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(h.stage), Metrics: h.reg, Stages: []string{stage},
		Pools: map[string]config.Pool{stage: pool},
	})
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	h.runner = r
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.runner.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			h.t.Errorf("runner did not stop")
		}
	})
}

func (h *harness) key(name string) string { return h.prefix + name }

func (h *harness) add(t *testing.T, evs ...testEvent) []string {
	t.Helper()
	ctx := context.Background()
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(evs))
	for i := range evs {
		evs[i].SchemaVersion = events.SchemaV1
		evs[i].TraceID = "trace-" + strconv.Itoa(evs[i].N)
		values, err := events.Encode(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: h.key(h.cfg.Streams.Parsed), Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("xadd: %v", err)
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.Val()
	}
	return ids
}

func (h *harness) outputs(t *testing.T) []testEvent {
	t.Helper()
	msgs, err := h.rdb.XRange(context.Background(), h.key(h.cfg.Streams.Tagged), "-", "+").Result()
	if err != nil {
		t.Fatalf("xrange: %v", err)
	}
	out := make([]testEvent, 0, len(msgs))
	for _, m := range msgs {
		var ev testEvent
		if err := events.Decode(m.Values, &ev); err != nil {
			t.Fatalf("decode output: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func (h *harness) pending(t *testing.T, group string) int64 {
	t.Helper()
	p, err := h.rdb.XPending(context.Background(), h.key(h.cfg.Streams.Parsed), group).Result()
	if err != nil {
		t.Fatalf("xpending: %v", err)
	}
	return p.Count
}

func (h *harness) dlq(t *testing.T) []redis.XMessage {
	t.Helper()
	msgs, err := h.rdb.XRange(context.Background(), h.prefix+h.cfg.Streams.Parsed+h.cfg.Streams.DLQSuffix, "-", "+").Result()
	if err != nil {
		t.Fatalf("xrange dlq: %v", err)
	}
	return msgs
}

func TestRunnerDeliversEachEntryExactlyOnceWithoutCrash(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"test-pass", "test-batch"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, stage, nil)
			const n = 10000
			evs := make([]testEvent, n)
			for i := range evs {
				evs[i].N = i
			}
			h.add(t, evs...)
			h.start()
			testenv.WaitFor(t, "all outputs", 60*time.Second, func() bool {
				l, _ := h.rdb.XLen(context.Background(), h.key(h.cfg.Streams.Tagged)).Result()
				return l >= n && h.pending(t, stage) == 0
			})
			seen := make(map[int]int, n)
			for _, ev := range h.outputs(t) {
				seen[ev.N]++
			}
			for i := range n {
				if seen[i] != 1 {
					t.Fatalf("entry %d arrived %d times downstream", i, seen[i])
				}
			}
			if got := len(h.outputs(t)); got != n {
				t.Fatalf("%d outputs, want %d", got, n)
			}
			if got := testenv.MetricValue(t, h.reg, "stage_messages_total", map[string]string{"stage": stage, "status": "success"}); got != n {
				t.Errorf("stage_messages_total{success} = %v, want %d", got, n)
			}
		})
	}
}

func TestRunnerRetriesTransientFailureWithoutHoldingOthersBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, p *config.Pool) {
		// A long backoff makes "not held back" observable: the others must
		// be done while the flaky entry waits for its retries.
		c.Runner.RetryInitialBackoff = 300 * time.Millisecond
		c.Runner.RetryMaxBackoff = 600 * time.Millisecond
		p.Workers = 2
	})
	evs := []testEvent{{N: 0, FailTimes: 2}}
	for i := 1; i <= 20; i++ {
		evs = append(evs, testEvent{N: i})
	}
	h.add(t, evs...)
	h.start()
	testenv.WaitFor(t, "the 20 healthy entries", 10*time.Second, func() bool { return len(h.outputs(t)) >= 20 })
	st := h.stage
	st.mu.Lock()
	flakyDone := len(st.handled) > 0 && slices.Contains(st.handled, 0)
	st.mu.Unlock()
	if flakyDone {
		t.Fatalf("the flaky entry finished before the healthy ones: they were held back")
	}
	testenv.WaitFor(t, "the flaky entry", 10*time.Second, func() bool { return len(h.outputs(t)) == 21 && h.pending(t, "test-pass") == 0 })
	if got := testenv.MetricValue(t, h.reg, "stage_retries_total", map[string]string{"stage": "test-pass"}); got != 2 {
		t.Errorf("stage_retries_total = %v, want 2", got)
	}
	if n := len(h.dlq(t)); n != 0 {
		t.Errorf("%d entries in the DLQ, want 0", n)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if got := st.attempts[0]; fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("attempts seen by the handler = %v, want [1 2 3]", got)
	}
}

func TestRunnerDeadLettersPermanentAtOnceAndExhaustedAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) { c.Runner.MaxAttempts = 3 })
	ids := h.add(t, testEvent{N: 1, Permanent: true}, testEvent{N: 2, FailTimes: -1}, testEvent{N: 3})
	h.start()
	// The counters follow the commit: the DLQ entries can be read in
	// Redis a moment before the acker has counted them.
	testenv.WaitFor(t, "two DLQ entries, counted", 10*time.Second, func() bool {
		return len(h.dlq(t)) == 2 && h.pending(t, "test-pass") == 0 &&
			testenv.MetricValue(t, h.reg, "stage_dlq_total", map[string]string{"stage": "test-pass", "reason": "exhausted"}) == 1
	})
	byEntry := map[string]map[string]any{}
	for _, m := range h.dlq(t) {
		byEntry[m.Values["entry_id"].(string)] = m.Values
	}
	perm, exh := byEntry[ids[0]], byEntry[ids[1]]
	if perm == nil || exh == nil {
		t.Fatalf("DLQ entries %v do not match ids %v", byEntry, ids)
	}
	tests := []struct {
		name  string
		entry map[string]any
		field string
		want  string
	}{
		{"permanent class", perm, "error_class", "permanent"},
		{"permanent attempts", perm, "attempts", "1"},
		{"permanent reason", perm, "error", "event 1 is permanently bad"},
		{"exhausted class", exh, "error_class", "exhausted"},
		{"exhausted attempts", exh, "attempts", "3"},
		{"exhausted reason", exh, "error", "event 2: transient failure 3"},
		{"stream", exh, "stream", "posts.parsed"},
		{"stage", exh, "stage", "test-pass"},
		{"trace id", exh, "trace_id", "trace-2"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(tc.entry[tc.field]); got != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.name, tc.field, got, tc.want)
		}
	}
	if got := testenv.MetricValue(t, h.reg, "stage_dlq_total", map[string]string{"stage": "test-pass", "reason": "exhausted"}); got != 1 {
		t.Errorf("stage_dlq_total{exhausted} = %v, want 1", got)
	}
	st := h.stage
	st.mu.Lock()
	if st.calls[1] != 1 {
		t.Errorf("permanent failure handled %d times, want 1", st.calls[1])
	}
	if st.calls[2] != 3 {
		t.Errorf("always-failing entry handled %d times, want max_attempts=3", st.calls[2])
	}
	st.mu.Unlock()
	if outs := h.outputs(t); len(outs) != 1 || outs[0].N != 3 {
		t.Errorf("outputs = %+v, want only event 3", outs)
	}
}

func TestRunnerTrimKeepsEntriesALaggingGroupNeeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	ctx := context.Background()
	in := h.key(h.cfg.Streams.Parsed)
	// A second consumer group that reads nothing yet: its entries must stay.
	if err := h.rdb.XGroupCreateMkStream(ctx, in, "lagging", "0").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 500
	evs := make([]testEvent, n)
	for i := range evs {
		evs[i].N = i
	}
	h.add(t, evs...)
	h.start()
	testenv.WaitFor(t, "stage done", 20*time.Second, func() bool { return len(h.outputs(t)) == n && h.pending(t, "test-pass") == 0 })
	// Several trim intervals pass; the lagging group still needs everything.
	// The gauges refreshed from Redis show the lagging group's backlog and
	// the stage's empty one.
	gauge := func(name, group string) float64 {
		return testenv.MetricValue(t, h.reg, name, map[string]string{"stream": "posts.parsed", "group": group})
	}
	testenv.WaitFor(t, "lag gauges", 5*time.Second, func() bool {
		return gauge("stream_lag", "lagging") == n && gauge("stream_lag", "test-pass") == 0 && gauge("stream_pending", "test-pass") == 0
	})
	time.Sleep(3 * h.cfg.Runner.TrimInterval) // let trim passes run; the assertion is that nothing changes
	if l := h.rdb.XLen(ctx, in).Val(); l != n {
		t.Fatalf("stream length %d after trimming, want %d (the lagging group has read nothing)", l, n)
	}
	// The lagging group reads half and acknowledges only some of them.
	res, err := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "lagging", Consumer: "c", Streams: []string{in, ">"}, Count: 250}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs := res[0].Messages
	ackIDs := make([]string, 0, 200)
	for _, m := range msgs[:200] {
		ackIDs = append(ackIDs, m.ID)
	}
	h.rdb.XAck(ctx, in, "lagging", ackIDs...)
	testenv.WaitFor(t, "pending and oldest-pending-age gauges", 5*time.Second, func() bool {
		return gauge("stream_pending", "lagging") == 50 && gauge("stream_lag", "lagging") == n-250 &&
			gauge("stream_oldest_pending_age_seconds", "lagging") > 0
	})
	testenv.WaitFor(t, "the stream to shrink to what the lagging group still needs", 5*time.Second, func() bool {
		return h.rdb.XLen(ctx, in).Val() == n-200
	})
	// Entry 200 (pending in the lagging group) and all later ones are there.
	first, err := h.rdb.XRangeN(ctx, in, "-", "+", 1).Result()
	if err != nil || len(first) != 1 || first[0].ID != msgs[200].ID {
		t.Fatalf("oldest entry after trim = %v, want the oldest pending %s", first, msgs[200].ID)
	}
	// Once everything is acknowledged by all groups, the stream empties.
	rest, _ := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "lagging", Consumer: "c", Streams: []string{in, ">"}, Count: 1000}).Result()
	for _, m := range msgs[200:] {
		h.rdb.XAck(ctx, in, "lagging", m.ID)
	}
	for _, m := range rest[0].Messages {
		h.rdb.XAck(ctx, in, "lagging", m.ID)
	}
	testenv.WaitFor(t, "the stream to empty", 5*time.Second, func() bool { return h.rdb.XLen(ctx, in).Val() == 0 })
}

func TestRunnerGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, p *config.Pool) {
		c.Runner.ShutdownTimeout = 10 * time.Second
		p.Workers = 3
	})
	h.add(t, testEvent{N: 1, Block: true}, testEvent{N: 2, Block: true}, testEvent{N: 3, Block: true})
	h.start()
	st := h.stage
	for range 3 {
		select {
		case <-st.started:
		case <-time.After(10 * time.Second):
			t.Fatal("entries did not reach the stage")
		}
	}
	h.cancel() // SIGTERM equivalent: the run context ends with three entries in flight
	time.AfterFunc(100*time.Millisecond, func() { close(st.release) })
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run returned %v after a graceful stop, want nil", err)
		}
	case <-time.After(h.cfg.Runner.ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return within the shutdown timeout")
	}
	if got := len(h.outputs(t)); got != 3 {
		t.Fatalf("%d outputs after shutdown, want 3", got)
	}
	if p := h.pending(t, "test-pass"); p != 0 {
		t.Fatalf("%d entries pending after a graceful stop, want 0", p)
	}
}

func TestRunnerShutdownTimeoutLeavesEntriesPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) {
		c.Runner.ShutdownTimeout = 300 * time.Millisecond
	})
	h.add(t, testEvent{N: 1, Block: true})
	h.start()
	<-h.stage.started
	h.cancel()
	var err error
	select {
	case err = <-h.done:
		h.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
	if err == nil {
		t.Fatal("Run returned nil although an entry could not finish")
	}
	if p := h.pending(t, "test-pass"); p != 1 {
		t.Fatalf("%d pending, want the unfinished entry left pending (1)", p)
	}
	if n := len(h.dlq(t)); n != 0 {
		t.Fatalf("an entry cut off by shutdown went to the DLQ")
	}
}

func TestRunnerRecreatesDeletedGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	ctx := context.Background()
	h.add(t, testEvent{N: 1})
	h.start()
	testenv.WaitFor(t, "first output", 5*time.Second, func() bool { return len(h.outputs(t)) == 1 })
	if err := h.rdb.XGroupDestroy(ctx, h.key(h.cfg.Streams.Parsed), "test-pass").Err(); err != nil {
		t.Fatal(err)
	}
	h.add(t, testEvent{N: 2})
	// The recreated group starts at 0: entry 1 is delivered again (at least
	// once), entry 2 is processed.
	testenv.WaitFor(t, "entry 2 after the group was deleted", 10*time.Second, func() bool {
		for _, ev := range h.outputs(t) {
			if ev.N == 2 {
				return true
			}
		}
		return false
	})
	if err := h.runner.Ready(ctx); err != nil {
		t.Fatalf("not ready after the group was recreated: %v", err)
	}
}

func TestRunnerDeadLettersOversizedEntry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	big := make([]byte, h.cfg.Runner.MaxEntryBytes+1)
	for i := range big {
		big[i] = 'x'
	}
	h.add(t, testEvent{N: 1, Pad: string(big)}, testEvent{N: 2})
	h.start()
	testenv.WaitFor(t, "DLQ entry and output", 10*time.Second, func() bool { return len(h.dlq(t)) == 1 && len(h.outputs(t)) == 1 })
	if reason := h.dlq(t)[0].Values["error"].(string); !strings.Contains(reason, "entry too large") {
		t.Fatalf("reason %q does not name the size problem", reason)
	}
	if calls := h.stage.calls[1]; calls != 0 {
		t.Fatalf("oversized entry reached the stage %d times", calls)
	}
}

func TestRunnerClaimsEntriesOfADeadConsumer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	ctx := context.Background()
	in := h.key(h.cfg.Streams.Parsed)
	h.add(t, testEvent{N: 1}, testEvent{N: 2})
	// A consumer of a dead replica read both entries and never acknowledged.
	if err := h.rdb.XGroupCreateMkStream(ctx, in, "test-pass", "0").Err(); err != nil {
		t.Fatal(err)
	}
	read, err := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "test-pass", Consumer: "dead-1-test-pass-0", Streams: []string{in, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Entry 1 was delivered twice more before that replica died (its own
	// retries re-claim it): three deliveries in all.
	for range 2 {
		if err := h.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: in, Group: "test-pass", Consumer: "dead-1-test-pass-0", Messages: []string{read[0].Messages[0].ID}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	testenv.WaitFor(t, "claimed entries processed", 15*time.Second, func() bool {
		return len(h.outputs(t)) == 2 && h.pending(t, "test-pass") == 0
	})
	if got := testenv.MetricValue(t, h.reg, "stage_claimed_total", map[string]string{"stage": "test-pass", "reason": pipeline.ClaimIdle}); got != 2 {
		t.Errorf("stage_claimed_total = %v, want 2", got)
	}
	st := h.stage
	st.mu.Lock()
	defer st.mu.Unlock()
	if a := st.attempts[1]; len(a) != 1 || a[0] != 4 {
		t.Errorf("entry delivered 3 times before, claimed: seen with attempts %v, want [4] (the delivery count)", a)
	}
	if a := st.attempts[2]; len(a) != 1 || a[0] != 2 {
		t.Errorf("entry delivered once before, claimed: seen with attempts %v, want [2]", a)
	}
}

// TestRunnerDeadLettersAPanicAsPermanent: a stage that panics on an entry
// does not take the process down, and the entry goes to the DLQ at once as
// permanent (a retry would panic again), while the others go through.
func TestRunnerDeadLettersAPanicAsPermanent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	h.add(t, testEvent{N: 1, Panic: true}, testEvent{N: 2})
	h.start()
	testenv.WaitFor(t, "DLQ entry and output", 10*time.Second, func() bool { return len(h.dlq(t)) == 1 && len(h.outputs(t)) == 1 })
	d := h.dlq(t)[0].Values
	if d["error_class"] != pipeline.ClassPermanent || d["attempts"] != "1" || !strings.Contains(d["error"].(string), "panicked") {
		t.Errorf("DLQ entry of the panic: class %v, attempts %v, error %v; want permanent after 1 attempt, naming the panic", d["error_class"], d["attempts"], d["error"])
	}
	h.stage.mu.Lock()
	defer h.stage.mu.Unlock()
	if calls := h.stage.calls[1]; calls != 1 {
		t.Errorf("the panicking entry was handled %d times, want 1 (no retry)", calls)
	}
}

// TestRunnerWaitsForRetryAfter: a failure carrying a Retry-After hint (an
// HTTP 429) is retried no sooner than the hint, even when the configured
// backoff is far shorter.
func TestRunnerWaitsForRetryAfter(t *testing.T) {
	t.Parallel()
	const hint = 800 * time.Millisecond
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) {
		c.Runner.RetryInitialBackoff = 10 * time.Millisecond
		c.Runner.RetryMaxBackoff = 20 * time.Millisecond
	})
	h.add(t, testEvent{N: 1, RetryAfterMS: int(hint / time.Millisecond)})
	h.start()
	testenv.WaitFor(t, "the retried entry", 10*time.Second, func() bool { return len(h.outputs(t)) == 1 })
	h.stage.mu.Lock()
	defer h.stage.mu.Unlock()
	times := h.stage.times[1]
	if len(times) != 2 {
		t.Fatalf("handled %d times, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < hint {
		t.Errorf("retried after %s, before the Retry-After hint of %s", gap, hint)
	}
}

// TestRunnerKeepsItsLongRunningEntriesFromBeingClaimed: while a handler
// works on an entry for longer than runner.claim_min_idle, the runner
// refreshes the entry's idle time, so another replica's XAUTOCLAIM does not
// take it away (and handle it twice).
func TestRunnerKeepsItsLongRunningEntriesFromBeingClaimed(t *testing.T) {
	t.Parallel()
	const minIdle = time.Second
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) {
		c.Runner.ClaimMinIdle = minIdle
		c.Runner.ClaimInterval = 100 * time.Millisecond
	})
	ctx := context.Background()
	in := h.key(h.cfg.Streams.Parsed)
	h.add(t, testEvent{N: 1, Block: true})
	h.start()
	<-h.stage.started
	// Another replica looks for idle entries for three times min idle.
	deadline := time.Now().Add(3 * minIdle)
	for time.Now().Before(deadline) {
		stolen, _, err := h.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: in, Group: "test-pass", Consumer: "other-1-test-pass-0", MinIdle: minIdle, Start: "0-0", Count: 10,
		}).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(stolen) > 0 {
			t.Fatalf("another consumer claimed the entry after %s of work: its idle time was not refreshed", 3*minIdle-time.Until(deadline))
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(h.stage.release)
	testenv.WaitFor(t, "the entry done", 10*time.Second, func() bool { return len(h.outputs(t)) == 1 && h.pending(t, "test-pass") == 0 })
}

func TestNewRunnerRejectsUnknownStage(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	_, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: testenv.Config(t, prefix, ""), Redis: rdb, Registry: testRegistry(newTestStage()), Stages: []string{"nope"},
	})
	if err == nil || !strings.Contains(err.Error(), `unknown stage "nope"`) {
		t.Fatalf("err = %v, want unknown stage", err)
	}
}

func TestStageInflightCountsHeldEntriesOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(_ *config.Config, p *config.Pool) { p.Workers = 1 })
	h.start()
	inflight := func() float64 {
		return testenv.MetricValue(t, h.reg, "stage_inflight", map[string]string{"stage": "test-pass"})
	}
	// Idle: the fetcher is blocked in XREADGROUP with slots reserved, and
	// none of them is an entry.
	h.add(t, testEvent{N: 1})
	testenv.WaitFor(t, "one output", 5*time.Second, func() bool { return len(h.outputs(t)) == 1 })
	testenv.WaitFor(t, "gauge back to 0", 5*time.Second, func() bool { return inflight() == 0 })
	h.add(t, testEvent{N: 2, Block: true}, testEvent{N: 3, Block: true})
	<-h.stage.started
	testenv.WaitFor(t, "two entries held", 5*time.Second, func() bool { return inflight() == 2 })
	close(h.stage.release)
	testenv.WaitFor(t, "gauge back to 0", 5*time.Second, func() bool { return inflight() == 0 && len(h.outputs(t)) == 3 })
}

// TestRunnerConsumesTheLegacyStreamWhenEnabled proves that with
// streams.legacy_consumer_enabled a stage also reads the old worker's key
// and its flat-field entries, next to its own stream. The entry is on the
// old key before the group exists, so the group starts at 0 here
// (streams.legacy_start; the default "$" would skip it, see the tag stage's
// TestLegacyWorkerSideBySide).
func TestRunnerConsumesTheLegacyStreamWhenEnabled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-legacy", func(c *config.Config, _ *config.Pool) {
		c.Streams.LegacyConsumerEnabled = true
		c.Streams.LegacyStart = "0"
	})
	ctx := context.Background()
	h.add(t, testEvent{N: 1})
	// The old telethon-ingest's flat form: one field per key, no envelope.
	if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: h.key(h.cfg.Streams.LegacyParsed), Values: map[string]any{"n": "2"}}).Err(); err != nil {
		t.Fatal(err)
	}
	h.start()
	testenv.WaitFor(t, "both entries", 10*time.Second, func() bool { return len(h.outputs(t)) == 2 })
	got := map[int]bool{}
	for _, ev := range h.outputs(t) {
		got[ev.N] = true
	}
	if !got[1] || !got[2] {
		t.Fatalf("outputs %v, want the new-stream entry 1 and the legacy entry 2", got)
	}
	p, err := h.rdb.XPending(ctx, h.key(h.cfg.Streams.LegacyParsed), "test-legacy").Result()
	if err != nil || p.Count != 0 {
		t.Fatalf("legacy entry not acknowledged on its own stream: %+v %v", p, err)
	}
}

// TestRunnerDeletesIdleConsumersWithoutPendingEntries proves that consumers
// of dead replicas are removed once idle past runner.consumer_idle_timeout,
// while one that still holds entries, and the runner's own, stay.
func TestRunnerDeletesIdleConsumersWithoutPendingEntries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) {
		c.Runner.ConsumerIdleTimeout = 300 * time.Millisecond
		c.Runner.ClaimMinIdle = time.Hour // keep the holder's entry where it is
	})
	ctx := context.Background()
	in := h.key(h.cfg.Streams.Parsed)
	if err := h.rdb.XGroupCreateMkStream(ctx, in, "test-pass", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// "dead-1" exists and holds nothing; "dead-2" holds one entry.
	if err := h.rdb.XGroupCreateConsumer(ctx, in, "test-pass", "dead-1-test-pass-0").Err(); err != nil {
		t.Fatal(err)
	}
	h.add(t, testEvent{N: 1})
	if _, err := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "test-pass", Consumer: "dead-2-test-pass-0", Streams: []string{in, ">"}, Count: 1}).Result(); err != nil {
		t.Fatal(err)
	}
	h.start()
	names := func() map[string]int64 {
		cs, err := h.rdb.XInfoConsumers(ctx, in, "test-pass").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, c := range cs {
			out[c.Name] = c.Pending
		}
		return out
	}
	testenv.WaitFor(t, "the idle consumer deleted", 10*time.Second, func() bool {
		_, idle := names()["dead-1-test-pass-0"]
		return !idle
	})
	if cs := names(); cs["dead-2-test-pass-0"] != 1 {
		t.Fatalf("consumers %v: the one holding an entry must stay", cs)
	}
	// The runner's own consumer (created by Redis on its first delivery)
	// survives prune passes while it idles longer than the timeout.
	h.add(t, testEvent{N: 2})
	testenv.WaitFor(t, "entry 2 handled", 5*time.Second, func() bool { return len(h.outputs(t)) == 1 })
	own := func() int {
		n := 0
		for name := range names() {
			if strings.HasSuffix(name, "-test-pass-0") && !strings.HasPrefix(name, "dead-") {
				n++
			}
		}
		return n
	}
	if own() != 1 {
		t.Fatalf("consumers %v: want the runner's own", names())
	}
	time.Sleep(4 * h.cfg.Runner.ConsumerIdleTimeout) // several prune passes while it idles
	if own() != 1 {
		t.Fatalf("the runner's own consumer was pruned: %v", names())
	}
}

// TestRunnerRetriesCountAsDeliveries proves that in-process retries advance
// the group's delivery count, so a replica that claims the entry after a
// crash sees the true attempt number.
func TestRunnerRetriesCountAsDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	// Fails twice, then blocks on the third attempt until released.
	h.add(t, testEvent{N: 7, FailTimes: 2, Block: true})
	h.start()
	st := h.stage
	for range 3 { // Block waits on every attempt: release the first two
		select {
		case <-st.started:
		case <-time.After(10 * time.Second):
			t.Fatal("attempt did not start")
		}
		st.mu.Lock()
		attempts := len(st.attempts[7])
		st.mu.Unlock()
		if attempts == 3 {
			break
		}
		st.release <- struct{}{}
	}
	pend, err := h.rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{
		Stream: h.key(h.cfg.Streams.Parsed), Group: "test-pass", Start: "-", End: "+", Count: 10,
	}).Result()
	if err != nil || len(pend) != 1 {
		t.Fatalf("pending: %v %v", pend, err)
	}
	if pend[0].RetryCount != 3 {
		t.Fatalf("delivery count %d during the third attempt, want 3", pend[0].RetryCount)
	}
	close(st.release)
	testenv.WaitFor(t, "the entry done", 5*time.Second, func() bool { return len(h.outputs(t)) == 1 })
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunnerWarnsAboutIgnoredLegacyKeys: with the legacy consumer off (the
// old compose default), an old worker's key that holds entries is named,
// with its length, in a warning at start; an empty one is not.
func TestRunnerWarnsAboutIgnoredLegacyKeys(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	ctx := context.Background()
	for range 2 {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + cfg.Streams.LegacyParsed, Values: map[string]any{"post_id": "p"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncBuffer
	r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(newTestStage()), Metrics: prometheus.NewRegistry(),
		Stages: []string{"test-pass"}, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	testenv.WaitFor(t, "the warning", 5*time.Second, func() bool { return strings.Contains(logs.String(), "not read") })
	cancel()
	<-done
	out := logs.String()
	if !strings.Contains(out, "stream="+prefix+cfg.Streams.LegacyParsed) || !strings.Contains(out, "length=2") ||
		strings.Contains(out, "stream="+prefix+cfg.Streams.LegacyTagged) {
		t.Errorf("warning does not name exactly the old key with entries:\n%s", out)
	}
}

// TestRunnerPausesOnOutageWithoutSpendingAttempts: entries failing as
// Unavailable (a store outage) are kept, not dead-lettered, however long the
// outage lasts — max_attempts is 1 here — and are handled with their attempt
// unchanged once the store is back; meanwhile readiness names the cause.
func TestRunnerPausesOnOutageWithoutSpendingAttempts(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"test-pass", "test-batch"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, stage, func(c *config.Config, _ *config.Pool) {
				c.Runner.MaxAttempts = 1
				c.Runner.RetryInitialBackoff = 10 * time.Millisecond
				c.Runner.RetryMaxBackoff = 50 * time.Millisecond
			})
			h.stage.down.Store(true)
			var evs []testEvent
			for i := range 10 {
				evs = append(evs, testEvent{N: i, Outage: true})
			}
			h.add(t, evs...)
			h.start()
			testenv.WaitFor(t, "readiness naming the outage", 10*time.Second, func() bool {
				err := h.runner.Ready(context.Background())
				return err != nil && strings.Contains(err.Error(), "paused") && strings.Contains(err.Error(), "store down")
			})
			// Many capped backoffs pass, each trying again.
			testenv.WaitFor(t, "several tries", 10*time.Second, func() bool {
				h.stage.mu.Lock()
				defer h.stage.mu.Unlock()
				return h.stage.calls[0] >= 5
			})
			if d := h.dlq(t); len(d) != 0 {
				t.Fatalf("%d entries dead-lettered during the outage", len(d))
			}
			// The group's delivery count — what a replica claiming them
			// after a crash reads as the attempt — is not raised either.
			pend, err := h.rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{
				Stream: h.key(h.cfg.Streams.Parsed), Group: stage, Start: "-", End: "+", Count: 100,
			}).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pend {
				if p.RetryCount != 1 {
					t.Fatalf("entry %s delivered %d times during the outage, want 1", p.ID, p.RetryCount)
				}
			}
			h.stage.down.Store(false)
			testenv.WaitFor(t, "every entry handled", 10*time.Second, func() bool { return len(h.outputs(t)) == 10 })
			testenv.WaitFor(t, "ready again", 10*time.Second, func() bool { return h.runner.Ready(context.Background()) == nil })
			if d := h.dlq(t); len(d) != 0 {
				t.Fatalf("%d entries dead-lettered", len(d))
			}
			h.stage.mu.Lock()
			defer h.stage.mu.Unlock()
			for n, attempts := range h.stage.attempts {
				for _, a := range attempts {
					if a != 1 {
						t.Fatalf("event %d handled at attempts %v: the outage spent attempts", n, attempts)
					}
				}
			}
		})
	}
}
