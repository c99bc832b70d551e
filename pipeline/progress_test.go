package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// progressLine is one "stage progress" log line.
type progressLine struct {
	Stage        string  `json:"stage"`
	Handled      int64   `json:"handled"`
	PerSecond    float64 `json:"per_second"`
	Errors       int64   `json:"errors"`
	DeadLettered int64   `json:"dead_lettered"`
	Lag          int64   `json:"lag"`
	Pending      int64   `json:"pending"`
	DLQLength    int64   `json:"dlq_length"`
	Interval     int64   `json:"interval"` // nanoseconds (slog's JSON of a Duration)
}

func progressLines(t *testing.T, logs *syncBuffer) []progressLine {
	t.Helper()
	var out []progressLine
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg string `json:"msg"`
			progressLine
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec.Msg == "stage progress" {
			out = append(out, rec.progressLine)
		}
	}
	return out
}

// TestRunnerLogsProgressOnlyWhileItHasWork: with a short progress interval,
// a stage logs nothing while idle, then "stage progress" lines while
// entries flow — their handled counts add up to the entries handled, with
// entries/s matching each line's interval, the transient failure and the
// dead-lettered entry counted, and the DLQ's length shown — and nothing
// again once it is idle.
func TestRunnerLogsProgressOnlyWhileItHasWork(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	cfg.Runner.ProgressInterval = interval
	cfg.Runner.RetryInitialBackoff = 50 * time.Millisecond
	cfg.Runner.RetryMaxBackoff = 50 * time.Millisecond
	var logs syncBuffer
	h := &harness{t: t, rdb: rdb, prefix: prefix, cfg: cfg, reg: prometheus.NewRegistry(), stage: newTestStage(), done: make(chan error, 1)}
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(h.stage), Metrics: h.reg, Stages: []string{"test-pass"},
		Pools:  map[string]config.Pool{"test-pass": {Enabled: true, Workers: 4, BatchSize: 10, MaxInflight: 100}},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	h.runner = r
	h.start()

	time.Sleep(3 * interval)
	if lines := progressLines(t, &logs); len(lines) != 0 {
		t.Fatalf("an idle stage logged progress: %+v", lines)
	}

	// Work flowing over several intervals: 20 entries every 50 ms, one
	// failing once, one permanently bad.
	const batches, per = 20, 20
	h.add(t, testEvent{N: -1, FailTimes: 1}, testEvent{N: -2, Permanent: true})
	for b := range batches {
		evs := make([]testEvent, per)
		for i := range evs {
			evs[i].N = b*per + i
		}
		h.add(t, evs...)
		time.Sleep(50 * time.Millisecond)
	}
	total := batches*per + 1 // and the one dead-lettered
	testenv.WaitFor(t, "every entry handled", 20*time.Second, func() bool {
		return len(h.outputs(t)) == total && h.pending(t, "test-pass") == 0
	})
	// Let the interval that saw the last entries end and log.
	time.Sleep(2 * interval)
	active := progressLines(t, &logs)
	t.Logf("progress lines: %+v", active)
	if len(active) < 2 {
		t.Fatalf("%d progress lines while work flowed for %d intervals, want at least 2", len(active), batches*50*time.Millisecond/interval)
	}
	var handled, errs, dlqd, dlqLen int64
	for _, l := range active {
		handled += l.Handled
		errs += l.Errors
		dlqd += l.DeadLettered
		dlqLen = max(dlqLen, l.DLQLength)
		secs := time.Duration(l.Interval).Seconds()
		if secs <= 0 || math.Abs(l.PerSecond-float64(l.Handled)/secs) > 0.051 {
			t.Errorf("line %+v: per_second does not match handled over the interval", l)
		}
		if l.Lag < 0 || l.Pending < 0 || l.Pending > 100 {
			t.Errorf("line %+v: implausible lag or pending (max_inflight is 100)", l)
		}
	}
	if handled != int64(total) || errs != 1 || dlqd != 1 || dlqLen != 1 {
		t.Errorf("lines add up to handled %d, errors %d, dead-lettered %d, DLQ length %d; want %d, 1, 1, 1\n%+v",
			handled, errs, dlqd, dlqLen, total, active)
	}

	time.Sleep(4 * interval)
	if idle := progressLines(t, &logs); len(idle) != len(active) {
		t.Errorf("the stage logged progress while idle again: %+v", idle[len(active):])
	}
}
