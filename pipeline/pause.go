package pipeline

import (
	"fmt"
	"time"
)

// pausePoll is how often a paused fetcher looks whether it was resumed. A
// read already blocking in XREADGROUP finishes first (runner.block), so a
// pause takes effect within block + pausePoll.
const pausePoll = 100 * time.Millisecond

// StageState is what one stage of this replica is doing (the admin API's
// stage states).
type StageState struct {
	Name    string `json:"name"`
	Running bool   `json:"running"`
	Paused  bool   `json:"paused"`
	// Parked: paused, and the fetcher has stopped reading (a read already
	// blocking when the pause came has ended).
	Parked   bool   `json:"parked"`
	Inflight int    `json:"inflight"`
	Workers  int    `json:"workers"`
	Consumer string `json:"consumer"`
}

// StageStates reports each stage this replica runs, in configuration order.
func (r *Runner) StageStates() []StageState {
	out := make([]StageState, 0, len(r.stages))
	for _, s := range r.stages {
		s.mu.Lock()
		inflight := len(s.tracked)
		s.mu.Unlock()
		out = append(out, StageState{
			Name: s.def.Name, Running: s.running.Load(), Paused: s.paused.Load(), Parked: s.parked.Load(),
			Inflight: inflight, Workers: s.pool.Workers, Consumer: s.consumer,
		})
	}
	return out
}

// SetPaused pauses (stops reading new entries) or resumes a stage in this
// replica only; other replicas keep consuming the group. It is not
// persisted: a restart resumes every stage.
func (r *Runner) SetPaused(stage string, paused bool) error {
	for _, s := range r.stages {
		if s.def.Name == stage {
			if s.paused.Swap(paused) != paused {
				r.log.Info("stage pause changed", "stage", stage, "paused", paused)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrStageNotRunning, stage)
}

// ErrStageNotRunning is returned for a stage this replica does not run.
var ErrStageNotRunning = fmt.Errorf("stage not run by this replica")
