package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/assistant-dev/assistant/config"
)

// stageRunner moves one stage's entries: a fetcher reads batches with
// XREADGROUP, a pool of workers handles them, an acker writes outputs and
// acknowledgements in one MULTI/EXEC, a retry queue re-dispatches transient
// failures after a backoff, and a claimer takes over entries that a dead
// consumer left pending.
type stageRunner struct {
	r        *Runner
	def      Definition
	stage    Stage
	handler  Handler // stage.Handle inside the runner's middleware (Recover)
	pool     config.Pool
	consumer string
	log      *slog.Logger
	inputs   []groupRef
	running  atomic.Bool
	// paused stops the fetcher from reading new entries (the admin API's
	// pause); work in flight, retries and claims go on.
	paused atomic.Bool
	// cutOff counts entries the shutdown deadline interrupted.
	cutOff atomic.Int64

	jobs    chan []*Message
	results chan completion

	mu       sync.Mutex
	cond     *sync.Cond
	inflight int                 // reserved or tracked entries
	tracked  map[string]*tracked // by key + "/" + id

	retryMu     sync.Mutex
	retryQ      retryHeap
	retryClosed bool
	retryCh     chan struct{} // wakes the retry scheduler

	// progress counts what the stage did since its last progress line
	// (progress.go).
	progress progressCounts

	// outage is the pause of a dependency outage (outage.go).
	outageMu sync.Mutex
	outage   outageState
}

func newStageRunner(r *Runner, def Definition, stage Stage, pool config.Pool, consumer string, log *slog.Logger) *stageRunner {
	s := &stageRunner{
		r: r, def: def, stage: stage, pool: pool, consumer: consumer, log: log,
		jobs:    make(chan []*Message, pool.MaxInflight),
		results: make(chan completion, pool.MaxInflight),
		tracked: map[string]*tracked{},
		retryCh: make(chan struct{}, 1),
	}
	s.cond = sync.NewCond(&s.mu)
	s.handler = Chain(stage.Handle, Recover(def.Name, log))
	for _, in := range r.inputsOf(def) {
		s.inputs = append(s.inputs, groupRef{stream: in, key: r.keys.Stream(in), group: def.Name, start: r.startOf(def, in)})
	}
	return s
}

func (s *stageRunner) run(ctx context.Context) error {
	cfg := s.r.cfg.Runner
	hctx, cancelHandlers := shutdownContext(ctx, cfg.ShutdownTimeout)
	defer cancelHandlers()

	var workers, helpers sync.WaitGroup
	for range s.pool.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); s.work(ctx, hctx) }()
	}
	ackerDone := make(chan struct{})
	go func() { defer close(ackerDone); s.ack(hctx) }()
	helpers.Add(3)
	go func() { defer helpers.Done(); s.scheduleRetries(ctx) }()
	go func() { defer helpers.Done(); s.claimLoop(ctx) }()
	go func() { defer helpers.Done(); s.progressLoop(ctx) }()

	s.initMetrics()
	s.running.Store(true)
	s.fetch(ctx)
	s.running.Store(false)

	// Shutdown: no more reads; entries waiting for a retry are handed back
	// (left pending for another consumer); workers finish what they hold.
	helpers.Wait()
	s.handBackRetries()
	close(s.jobs)
	workers.Wait()
	close(s.results)
	<-ackerDone

	if n := s.cutOff.Load(); n > 0 {
		return fmt.Errorf("stage %s: shutdown timeout after %s: %d entries left pending for redelivery", s.def.Name, cfg.ShutdownTimeout, n)
	}
	return nil
}

// initMetrics creates the stage's series at zero, so dashboards and alert
// rules (rates, absent()) see them before the first entry.
func (s *stageRunner) initMetrics() {
	m, name := s.r.metrics, s.def.Name
	m.inflight.WithLabelValues(name).Set(0)
	m.paused.WithLabelValues(name).Set(0)
	for _, status := range []string{StatusSuccess, StatusRetry, StatusDLQ} {
		m.messages.WithLabelValues(name, status)
	}
	for _, reason := range []string{ClassPermanent, ClassExhausted} {
		m.dlq.WithLabelValues(name, reason)
	}
	m.retries.WithLabelValues(name)
	m.claimed.WithLabelValues(name)
	m.republished.WithLabelValues(name)
}

// handBack gives entries up without acknowledging them: they stay pending
// and another consumer claims them after runner.claim_min_idle.
func (s *stageRunner) handBack(msgs []*Message) {
	if len(msgs) > 0 {
		s.release(len(msgs), msgs...)
	}
}
