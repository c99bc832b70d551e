package pipeline

// outage.go: a dependency outage (an Unavailable failure) pauses the stage
// instead of spending the entries' attempts. The entries of the failed job
// are parked in the retry queue with their attempt unchanged, the fetcher
// stops reading until the pause ends and the stage's Checker (if any)
// answers, and /readyz names the cause. Each failure after a pause ended
// doubles the next one, up to runner.retry_max_backoff; the first job
// handled without an Unavailable failure ends the pause.

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

type outageState struct {
	err      error     // the outage's cause; nil when not paused
	until    time.Time // the fetcher and the parked entries wait until then
	failures int       // consecutive pauses, for the backoff
	since    time.Time
}

// pause records an outage and returns when the stage may try again. Failures
// that arrive while a pause is running (the rest of the batch, other
// workers) join it instead of lengthening it.
func (s *stageRunner) pause(cause error) time.Time {
	s.outageMu.Lock()
	defer s.outageMu.Unlock()
	now := time.Now()
	p := &s.outage
	if p.err != nil && now.Before(p.until) {
		return p.until
	}
	if p.err == nil {
		p.since = now
	}
	p.failures++
	wait := min(retryDelay(s.r.cfg.Runner, p.failures), s.r.cfg.Runner.RetryMaxBackoff)
	if hint, ok := RetryAfterHint(cause); ok && hint > wait {
		// The dependency said when to come back (a 429 storm with
		// Retry-After): the pause honours it.
		wait = hint
	}
	p.err, p.until = cause, now.Add(wait)
	s.r.metrics.paused.WithLabelValues(s.def.Name).Set(1)
	s.log.Warn("stage paused: a dependency is unavailable; entries kept pending, attempts not counted",
		"err", cause.Error(), "backoff", wait, "consecutive", p.failures)
	return p.until
}

// resume ends a pause after a job was handled without an outage.
func (s *stageRunner) resume() {
	s.outageMu.Lock()
	defer s.outageMu.Unlock()
	if s.outage.err == nil {
		return
	}
	s.log.Info("stage resumed", "paused_for", time.Since(s.outage.since).Round(time.Millisecond), "cause", s.outage.err.Error())
	s.outage = outageState{}
	s.r.metrics.paused.WithLabelValues(s.def.Name).Set(0)
}

// pauseErr is the readiness error of a paused stage, nil otherwise.
func (s *stageRunner) pauseErr() error {
	s.outageMu.Lock()
	defer s.outageMu.Unlock()
	if s.outage.err == nil {
		return nil
	}
	return fmt.Errorf("paused since %s (retry in %s): %w", s.outage.since.UTC().Format(time.RFC3339),
		max(0, time.Until(s.outage.until)).Round(time.Millisecond), s.outage.err)
}

// park keeps an entry whose failure was an outage for a try after the
// pause, without counting an attempt.
func (s *stageRunner) park(m *Message, cause error) {
	until := s.pause(cause)
	m.parked = true
	s.queueRetry(m, until)
}

// outageProbeEvery is how often a paused stage with a Checker probes its
// dependencies inside a backoff. The backoff (up to runner.retry_max_backoff)
// spaces out tries of the entries themselves; a probe is one cheap call, and
// without it a stage paused for 20 s would drain that much later after the
// store came back.
const outageProbeEvery = time.Second

// waitWhilePaused holds the fetcher while the stage is paused. A stage with
// a Checker is probed every outageProbeEvery: a passing probe ends the
// backoff early (the parked entries become due at once), a failing one at
// the backoff's end pauses again (longer). Without a Checker the fetcher
// sleeps the backoff out and the next try is the probe.
func (s *stageRunner) waitWhilePaused(ctx context.Context) {
	checker, hasChecker := s.stage.(Checker)
	probe := func() error {
		pctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
		defer cancel()
		return checker.Check(pctx)
	}
	for ctx.Err() == nil {
		s.outageMu.Lock()
		paused, until := s.outage.err != nil, s.outage.until
		s.outageMu.Unlock()
		if !paused {
			return
		}
		if d := time.Until(until); d > 0 {
			if !hasChecker {
				sleepCtx(ctx, d)
				continue
			}
			sleepCtx(ctx, min(d, outageProbeEvery))
			if time.Until(until) > 0 && ctx.Err() == nil && probe() == nil {
				s.endBackoff()
				return
			}
			continue
		}
		if hasChecker {
			if err := probe(); err != nil && ctx.Err() == nil {
				s.pause(Unavailable(fmt.Errorf("probe: %w", err)))
				continue
			}
		}
		return
	}
}

// endBackoff cuts a pause's backoff short after a passing probe: the
// fetcher goes on and the parked entries are due now. The pause itself
// ends (resume) with the first job handled without an outage, so a probe
// that passes while the entries still fail pauses again with a longer
// backoff.
func (s *stageRunner) endBackoff() {
	now := time.Now()
	s.outageMu.Lock()
	if s.outage.err != nil && s.outage.until.After(now) {
		s.outage.until = now
	}
	s.outageMu.Unlock()
	s.retryMu.Lock()
	for i := range s.retryQ {
		if s.retryQ[i].msg.parked && s.retryQ[i].due.After(now) {
			s.retryQ[i].due = now
		}
	}
	heap.Init(&s.retryQ)
	s.retryMu.Unlock()
	select {
	case s.retryCh <- struct{}{}:
	default:
	}
}
