package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	// parked is set while the fetcher, having seen paused, waits for a
	// resume: no read of it is in flight and none starts until resumed.
	parked atomic.Bool
	// cutOff counts entries the shutdown deadline interrupted.
	cutOff atomic.Int64
	// handedBack counts entries given up unacknowledged at shutdown (cut
	// off, or waiting for a retry due after the deadline).
	handedBack atomic.Int64
	// handled and acked count entries whose handler returned and entries
	// acknowledged (with their outputs, or dead-lettered), for the stage's
	// last log line.
	handled, acked atomic.Int64

	jobs    chan []*Message
	results chan completion

	mu       sync.Mutex
	cond     *sync.Cond
	inflight int // reserved or tracked entries
	// claimFirst holds the fetcher back while the claimer waits for room
	// to take over a stopped consumer's entries.
	claimFirst bool
	tracked    map[string]*tracked // by key + "/" + id

	retryMu     sync.Mutex
	retryQ      retryHeap
	retryClosed bool
	// drainDeadline is the shutdown deadline once the stage stops reading:
	// a retry due after it is handed back instead of queued.
	drainDeadline time.Time
	retryCh       chan struct{} // wakes the retry scheduler

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
	s.inputs = r.groupsOf(def)
	return s
}

func (s *stageRunner) run(ctx context.Context) error {
	cfg := s.r.cfg.Runner
	hctx, cancelHandlers := shutdownContext(ctx, cfg.ShutdownTimeout)
	defer cancelHandlers()
	// The retry scheduler and the heartbeat outlive the reads: they run
	// until the stage has finished what it holds, or the deadline.
	drainCtx, endDrain := context.WithCancel(hctx)
	defer endDrain()

	// The heartbeat exists before the first read, so that no other replica
	// takes this consumer, just starting, for one that is gone.
	if err := s.beat(ctx); err != nil {
		s.log.Warn("write consumer heartbeat", "consumer", s.consumer, "err", err)
	}
	var workers, helpers, beating sync.WaitGroup
	beating.Add(1)
	go func() { defer beating.Done(); s.heartbeatLoop(drainCtx) }()
	for range s.pool.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); s.work(hctx) }()
	}
	ackerDone := make(chan struct{})
	go func() { defer close(ackerDone); s.ack(hctx) }()
	helpers.Add(3)
	go func() { defer helpers.Done(); s.scheduleRetries(drainCtx) }()
	go func() { defer helpers.Done(); s.claimLoop(ctx) }()
	go func() { defer helpers.Done(); s.progressLoop(ctx) }()

	s.initMetrics()
	s.running.Store(true)
	s.fetch(ctx)
	s.running.Store(false)

	// Shutdown: no more reads or claims. Everything already read — being
	// handled, queued for a worker, waiting for a retry or for its
	// acknowledgement — is finished and acknowledged within the deadline;
	// a retry due after it is handed back (left pending) at once.
	stopped := time.Now()
	held := s.held()
	ackedBefore := s.acked.Load()
	s.log.Info("stage stopping: reads stopped, finishing the entries in hand",
		"held", held, "shutdown_timeout", cfg.ShutdownTimeout)
	s.beginDrain(stopped.Add(cfg.ShutdownTimeout))
	s.waitDrained(hctx)
	endDrain()
	helpers.Wait()
	s.handBackRetries()
	close(s.jobs)
	workers.Wait()
	close(s.results)
	<-ackerDone
	beating.Wait()

	leaveCtx, cancelLeave := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	left, err := s.leave(leaveCtx)
	cancelLeave()
	if err != nil {
		s.log.Warn("leave the consumer group", "consumer", s.consumer, "err", err)
		left = s.handedBack.Load()
	}
	level := slog.LevelInfo
	if left != 0 {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "stage stopped",
		"consumer", s.consumer, "held_at_stop", held, "acked_at_stop", s.acked.Load()-ackedBefore,
		"left_pending", left, "handled", s.handled.Load(), "acked", s.acked.Load(),
		"took", time.Since(stopped).Round(time.Millisecond))

	if n := s.cutOff.Load(); n > 0 {
		return fmt.Errorf("stage %s: shutdown timeout after %s: %d entries left pending for redelivery", s.def.Name, cfg.ShutdownTimeout, n)
	}
	return nil
}

// leaveTimeout bounds the last Redis calls of a stopping consumer.
const leaveTimeout = 5 * time.Second

// held is the number of entries this stage holds.
func (s *stageRunner) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tracked)
}

// waitDrained waits until the stage holds nothing (every entry
// acknowledged, dead-lettered or handed back) or ctx ends.
func (s *stageRunner) waitDrained(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inflight > 0 && ctx.Err() == nil {
		s.cond.Wait()
	}
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
	for _, reason := range []string{ClaimConsumerGone, ClaimIdle} {
		m.claimed.WithLabelValues(name, reason)
	}
	m.republished.WithLabelValues(name)
}

// handBack gives entries up at shutdown without acknowledging them: they
// stay pending, and another replica takes them over at once (the stopping
// consumer's heartbeat says "stopped").
func (s *stageRunner) handBack(msgs []*Message) {
	if len(msgs) > 0 {
		s.handedBack.Add(int64(len(msgs)))
		s.release(len(msgs), msgs...)
	}
}
