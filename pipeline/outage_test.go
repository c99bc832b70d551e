package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// checkedStage is the test stage with a readiness probe that fails while
// the stage's store is down, as persist's PostgreSQL ping does.
type checkedStage struct{ *testStage }

func (s checkedStage) Check(context.Context) error {
	if s.down.Load() && !s.checkPasses.Load() {
		return errors.New("store down: connection refused")
	}
	return nil
}

// TestRunnerProbesItsWayOutOfAPause: a paused stage with a Checker does not
// sit out its backoff once the store is back. The backoff here is at least
// 10 s (20 s initial, ±50 %); the entries must be handled within 5 s of the
// store's return, which only the probe inside the backoff can do.
func TestRunnerProbesItsWayOutOfAPause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-checked", func(c *config.Config, _ *config.Pool) {
		c.Runner.RetryInitialBackoff = 20 * time.Second
		c.Runner.RetryMaxBackoff = 30 * time.Second
	})
	h.stage.down.Store(true)
	var evs []testEvent
	for i := range 5 {
		evs = append(evs, testEvent{N: i, Outage: true})
	}
	h.add(t, evs...)
	h.start()
	testenv.WaitFor(t, "the pause", 10*time.Second, func() bool {
		err := h.runner.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "paused")
	})
	h.stage.down.Store(false)
	back := time.Now()
	testenv.WaitFor(t, "every entry handled soon after the store is back", 5*time.Second,
		func() bool { return len(h.outputs(t)) == len(evs) })
	t.Logf("drained %s after the store came back", time.Since(back).Round(time.Millisecond))
	testenv.WaitFor(t, "ready again", 5*time.Second, func() bool { return h.runner.Ready(context.Background()) == nil })
	if d := h.dlq(t); len(d) != 0 {
		t.Fatalf("%d entries dead-lettered", len(d))
	}
}
