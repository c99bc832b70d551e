package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/pipeline"
)

// TestRunnerPauseStopsReadingAndResumeCatchesUp: a paused stage leaves new
// entries undelivered (the group's lag grows), a resumed one handles them.
func TestRunnerPauseStopsReadingAndResumeCatchesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "test-pass", nil)
	h.start()
	h.add(t, testEvent{N: 1})
	waitOutputs := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(h.outputs(t)) < n {
			if time.Now().After(deadline) {
				t.Fatalf("want %d outputs, have %d", n, len(h.outputs(t)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOutputs(1)
	if err := h.runner.SetPaused("test-pass", true); err != nil {
		t.Fatal(err)
	}
	if st := h.runner.StageStates(); len(st) != 1 || !st[0].Paused || !st[0].Running {
		t.Fatalf("states after pause: %+v", st)
	}
	// A read already blocking may take one more batch: wait for it to end.
	time.Sleep(h.cfg.Runner.Block + 300*time.Millisecond)
	h.add(t, testEvent{N: 2}, testEvent{N: 3})
	time.Sleep(h.cfg.Runner.Block + 300*time.Millisecond)
	if got := len(h.outputs(t)); got != 1 {
		t.Fatalf("paused stage produced %d outputs, want 1", got)
	}
	if err := h.runner.SetPaused("test-pass", false); err != nil {
		t.Fatal(err)
	}
	waitOutputs(3)
	if err := h.runner.SetPaused("nope", true); !errors.Is(err, pipeline.ErrStageNotRunning) {
		t.Fatalf("unknown stage: %v", err)
	}
}
