package pipeline

// inflight.go: the in-flight budget (runner max_inflight) and the entries
// this process holds.

import (
	"context"
	"time"
)

// tracked is an entry this process holds (handling, waiting for a retry, or
// waiting for its acknowledgement).
type tracked struct {
	key       string
	id        string
	lastTouch time.Time
}

// acquire reserves up to n in-flight slots, waiting while the stage is full.
func (s *stageRunner) acquire(ctx context.Context, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The fetcher also waits while the claimer waits for room to take over
	// a stopped consumer's entries: those are older than anything unread.
	for (s.inflight >= s.pool.MaxInflight || s.claimFirst) && ctx.Err() == nil {
		s.cond.Wait()
	}
	if ctx.Err() != nil {
		return 0
	}
	n = min(n, s.pool.MaxInflight-s.inflight)
	s.inflight += n
	return n
}

// reserveExcess counts n entries read beyond the slots reserved for them
// (one read of more keys than it had slots: at most one per key), so that
// their release later balances.
func (s *stageRunner) reserveExcess(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight += n
}

// tryAcquire reserves up to n slots without waiting.
func (s *stageRunner) tryAcquire(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = max(0, min(n, s.pool.MaxInflight-s.inflight))
	s.inflight += n
	return n
}

// release frees n slots, forgetting the given entries.
func (s *stageRunner) release(n int, msgs ...*Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		delete(s.tracked, s.trackKey(m))
	}
	s.inflight -= n
	// The gauge counts entries held, not slots reserved for a read.
	s.r.metrics.inflight.WithLabelValues(s.def.Name).Set(float64(len(s.tracked)))
	s.cond.Broadcast()
}

func (s *stageRunner) trackKey(m *Message) string {
	return s.r.keys.PartStream(m.Partition, m.Stream) + "/" + m.ID
}

// tryAcquireFull reserves n slots if that many are free. When they are not,
// it asks the fetcher to leave the next free slots to the claimer
// (claimFirst) and returns 0.
func (s *stageRunner) tryAcquireFull(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool.MaxInflight-s.inflight < n {
		s.claimFirst = true
		return 0
	}
	s.inflight += n
	return n
}

// waitRoom waits until n slots are free; false when ctx ended first.
func (s *stageRunner) waitRoom(ctx context.Context, n int) bool {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pool.MaxInflight-s.inflight < n && ctx.Err() == nil {
		s.cond.Wait()
	}
	return ctx.Err() == nil
}

// clearClaimFirst lets the fetcher read again.
func (s *stageRunner) clearClaimFirst() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimFirst {
		s.claimFirst = false
		s.cond.Broadcast()
	}
}
