package pipeline

// progress.go: the periodic "stage progress" log line, so that an operator
// tailing the logs sees a stage move (or not) without a dashboard.

import (
	"context"
	"log/slog"
	"math"
	"sync/atomic"
	"time"
)

// progressCounts are what a stage did since its last progress line.
type progressCounts struct {
	handled atomic.Int64 // acknowledged as done
	errors  atomic.Int64 // transient failures scheduled for a retry
	dlq     atomic.Int64 // dead-lettered
}

// progressLoop logs a progress line every runner.progress_interval until
// ctx ends; a zero interval turns it off.
func (s *stageRunner) progressLoop(ctx context.Context) {
	every := s.r.cfg.Runner.ProgressInterval
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.logProgress(ctx, now.Sub(last))
			last = now
		}
	}
}

// logProgress logs what the stage did over the last interval, with the lag
// and pending count of its groups and the length of its DLQs — only when it
// did something or has work waiting: an idle stage stays silent.
func (s *stageRunner) logProgress(ctx context.Context, interval time.Duration) {
	handled, errs, dlqd := s.progress.handled.Swap(0), s.progress.errors.Swap(0), s.progress.dlq.Swap(0)
	var lag, pending, dlqLen int64
	var queryErr error
	for _, in := range s.inputs {
		groups, err := s.r.rdb.XInfoGroups(ctx, in.key).Result()
		if err != nil && !IsNoSuchKey(err) {
			queryErr = err
			continue
		}
		for _, g := range groups {
			if g.Name == in.group {
				lag += max(g.Lag, 0) // -1: Redis cannot tell (after an XDEL)
				pending += g.Pending
			}
		}
		n, err := s.r.rdb.XLen(ctx, s.r.keys.PartDLQ(in.partition, in.stream)).Result()
		if err != nil {
			queryErr = err
			continue
		}
		dlqLen += n
	}
	if handled == 0 && errs == 0 && dlqd == 0 && lag == 0 && pending == 0 {
		return
	}
	attrs := []slog.Attr{
		slog.Int64("handled", handled),
		slog.Float64("per_second", math.Round(float64(handled)/interval.Seconds()*10)/10),
		slog.Int64("errors", errs),
		slog.Int64("dead_lettered", dlqd),
		slog.Int64("lag", lag),
		slog.Int64("pending", pending),
		slog.Int64("dlq_length", dlqLen),
		slog.Duration("interval", interval.Round(time.Millisecond)),
	}
	if queryErr != nil {
		// The counts of this process are still true; lag, pending and
		// DLQ length are partial.
		attrs = append(attrs, slog.String("redis_err", queryErr.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "stage progress", attrs...)
}
