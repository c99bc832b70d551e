package pipeline_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
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
		testenv.WaitFor(t, fmt.Sprintf("%d outputs", n), 10*time.Second, func() bool { return len(h.outputs(t)) >= n })
	}
	waitOutputs(1)
	if err := h.runner.SetPaused("test-pass", true); err != nil {
		t.Fatal(err)
	}
	if st := h.runner.StageStates(); len(st) != 1 || !st[0].Paused || !st[0].Running {
		t.Fatalf("states after pause: %+v", st)
	}
	// A read already blocking may take one more batch: wait until the
	// fetcher has parked (that read ended, no other starts until resumed).
	testenv.WaitFor(t, "the fetcher to park", 10*time.Second, func() bool { return h.runner.StageStates()[0].Parked })
	h.add(t, testEvent{N: 2}, testEvent{N: 3})
	// Parked, the fetcher reads nothing: the entries stay undelivered in
	// the group (no pending entry) and nothing is handled.
	if got := len(h.outputs(t)); got != 1 {
		t.Fatalf("paused stage produced %d outputs, want 1", got)
	}
	if n := h.pending(t, "test-pass"); n != 0 {
		t.Fatalf("paused stage took %d entries", n)
	}
	if st := h.runner.StageStates()[0]; !st.Parked {
		t.Fatalf("fetcher left its parking while paused: %+v", st)
	}
	if err := h.runner.SetPaused("test-pass", false); err != nil {
		t.Fatal(err)
	}
	waitOutputs(3)
	if st := h.runner.StageStates()[0]; st.Paused || st.Parked {
		t.Fatalf("states after resume: %+v", st)
	}
	if err := h.runner.SetPaused("nope", true); !errors.Is(err, pipeline.ErrStageNotRunning) {
		t.Fatalf("unknown stage: %v", err)
	}
}
