package pipeline

// workers.go: the pool of workers that run the stage's handler chain.

import (
	"context"
	"fmt"
	"time"
)

// dispatch queues messages for the workers: the whole batch as one job for a
// batch stage, else one job per message. The job channel holds max_inflight
// jobs, so it never blocks while in-flight slots are respected.
func (s *stageRunner) dispatch(msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	if s.def.Batch {
		for len(msgs) > 0 {
			n := min(len(msgs), s.pool.BatchSize)
			s.jobs <- msgs[:n:n]
			msgs = msgs[n:]
		}
		return
	}
	for _, m := range msgs {
		s.jobs <- []*Message{m}
	}
}

// work handles jobs until the job channel closes, also after the stage
// stopped reading: what was read is finished. Jobs still queued when the
// shutdown deadline (hctx) has passed are handed back rather than started.
func (s *stageRunner) work(hctx context.Context) {
	for job := range s.jobs {
		if hctx.Err() != nil {
			s.cutOff.Add(int64(len(job)))
			s.handBack(job)
			continue
		}
		s.handle(hctx, job)
	}
}

func (s *stageRunner) handle(ctx context.Context, job []*Message) {
	for _, m := range job {
		m.reset()
		m.parked = false
	}
	start := time.Now()
	err := s.handler(ctx, job)
	s.r.metrics.handleDuration.WithLabelValues(s.def.Name).Observe(time.Since(start).Seconds())
	s.handled.Add(int64(len(job)))
	outage := false
	probed, down := false, error(nil)
	for _, m := range job {
		failure := m.err
		if failure == nil && err != nil {
			failure = err
		}
		if failure == nil {
			failure = s.oversizedOutput(m)
		}
		if failure != nil && ctx.Err() == nil && !IsPermanent(failure) && !IsUnavailable(failure) {
			// An error nobody classified, while the stage's dependencies
			// fail their health check, is the dependency's, not the
			// entry's: whatever it looks like, it pauses the stage.
			if !probed {
				probed, down = true, s.probe(ctx)
			}
			if down != nil {
				failure = Unavailable(fmt.Errorf("%w (health check failing: %v)", failure, down))
			}
		}
		if failure != nil && IsUnavailable(failure) && ctx.Err() == nil {
			// The store is down or its schema lacks a table: no entry is
			// at fault. Pause the stage and keep the entry, attempt unspent.
			outage = true
			s.park(m, failure)
			continue
		}
		if failure == nil {
			s.results <- completion{msg: m}
			continue
		}
		if ctx.Err() != nil {
			// The shutdown deadline passed: the failure may be ours, not
			// the entry's. Leave it pending for the next consumer.
			s.cutOff.Add(1)
			s.handBack([]*Message{m})
			continue
		}
		switch {
		case IsPermanent(failure):
			s.deadLetter(m, ClassPermanent, failure)
		case m.Attempt >= s.r.cfg.Runner.MaxAttempts:
			s.deadLetter(m, ClassExhausted, failure)
		default:
			s.retryLater(m, failure)
		}
	}
	if !outage && ctx.Err() == nil {
		s.resume()
	}
}

// probe runs the stage's health check (Checker), if it has one: nil when it
// passes or there is none.
func (s *stageRunner) probe(ctx context.Context) error {
	checker, ok := s.stage.(Checker)
	if !ok {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	err := checker.Check(pctx)
	if err != nil && ctx.Err() != nil {
		return nil // our shutdown, not the dependency
	}
	return err
}

// oversizedOutput fails m permanently when one of its outputs is larger than
// runner.max_entry_bytes. The stage reading that stream would dead-letter
// the output at once, and replaying it from there would only fail again;
// failed here, the DLQ holds the input entry, which can be fixed (or the
// limit raised) and replayed. Nothing of m is published.
func (s *stageRunner) oversizedOutput(m *Message) error {
	limit := s.r.cfg.Runner.MaxEntryBytes
	for _, o := range m.outputs {
		if size := entrySize(o.values); size > limit {
			return Permanent(fmt.Errorf("output %s entry of %d bytes exceeds runner.max_entry_bytes %d", o.stream, size, limit))
		}
	}
	return nil
}
