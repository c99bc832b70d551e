package pipeline

// retry.go: transient failures wait in a heap for their backoff, then are
// re-claimed (so the delivery count stays true) and dispatched again.

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
)

func (s *stageRunner) retryLater(m *Message, failure error) {
	wait := retryDelay(s.r.cfg.Runner, m.Attempt)
	if hint, ok := RetryAfterHint(failure); ok && hint > wait {
		wait = hint
	}
	s.r.metrics.retries.WithLabelValues(s.def.Name).Inc()
	s.r.metrics.messages.WithLabelValues(s.def.Name, StatusRetry).Inc()
	s.progress.errors.Add(1)
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "transient failure; will retry",
		append(m.LogAttrs(), slog.String("err", failure.Error()), slog.Duration("backoff", wait))...)
	m.Attempt++
	s.queueRetry(m, time.Now().Add(wait))
}

// queueRetry puts m in the retry heap until due. When the stage is stopping
// and due falls after the shutdown deadline, or m waits for a dependency
// that is down (parked), m is handed back instead (left pending for another
// replica): waiting for an outage to end would only hold the stop up.
func (s *stageRunner) queueRetry(m *Message, due time.Time) {
	s.retryMu.Lock()
	if s.retryClosed || !s.drainDeadline.IsZero() && (m.parked || due.After(s.drainDeadline)) {
		s.retryMu.Unlock()
		s.handBack([]*Message{m})
		return
	}
	heap.Push(&s.retryQ, retryItem{due: due, msg: m})
	s.retryMu.Unlock()
	select {
	case s.retryCh <- struct{}{}:
	default:
	}
}

// beginDrain records the shutdown deadline and hands back, at once, the
// waiting retries due after it — they could not be handled in time anyway —
// and the entries parked by an outage.
func (s *stageRunner) beginDrain(deadline time.Time) {
	s.retryMu.Lock()
	s.drainDeadline = deadline
	var late []*Message
	kept := s.retryQ[:0]
	for _, it := range s.retryQ {
		if it.msg.parked || it.due.After(deadline) {
			late = append(late, it.msg)
		} else {
			kept = append(kept, it)
		}
	}
	s.retryQ = kept
	heap.Init(&s.retryQ)
	s.retryMu.Unlock()
	if len(late) > 0 {
		s.log.Info("retries due after the shutdown deadline or parked by an outage handed back", "count", len(late))
		s.handBack(late)
	}
}

// scheduleRetries re-dispatches messages whose backoff has passed, until ctx
// ends (after the shutdown drain).
func (s *stageRunner) scheduleRetries(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.retryMu.Lock()
		var due []*Message
		now := time.Now()
		for s.retryQ.Len() > 0 && !s.retryQ[0].due.After(now) {
			due = append(due, heap.Pop(&s.retryQ).(retryItem).msg)
		}
		next := time.Hour
		if s.retryQ.Len() > 0 {
			next = time.Until(s.retryQ[0].due)
		}
		s.retryMu.Unlock()
		s.dispatch(s.redeliver(ctx, due))
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.retryCh:
		}
	}
}

// redeliver re-claims entries due for a retry before they are handled
// again. XCLAIM counts a delivery, so the group's delivery count — which a
// replica claiming the entry after a crash reads as its attempt number —
// includes the retries made here. An entry that is no longer pending for
// this consumer is not handled here: if it is still in its stream, another
// consumer took it over (or acknowledged it), so this copy is dropped; if
// it is gone from the stream (Redis restarted empty, the group with it), it
// is republished (republishVanished) so that nothing is lost.
func (s *stageRunner) redeliver(ctx context.Context, due []*Message) []*Message {
	if len(due) == 0 {
		return nil
	}
	byKey := map[string][]*Message{}
	for _, m := range due {
		k := s.r.keys.PartStream(m.Partition, m.Stream)
		byKey[k] = append(byKey[k], m)
	}
	out := due[:0]
	for key, msgs := range byKey {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		present, err := s.reclaim(ctx, key, msgs, ids)
		if err != nil && !IsNoGroup(err) {
			// Redis unreachable: handle them anyway; the acknowledgement
			// will wait for Redis, and nothing is lost.
			out = append(out, msgs...)
			continue
		}
		if err != nil {
			// The group is gone (and the stream with it, most likely):
			// recreate it, as the fetcher and the acker do, so that the
			// republished entries are read.
			s.log.Warn("consumer group missing while retrying; recreating it", "stream", key, "err", err)
			if gerr := s.r.ensureGroups(ctx); gerr != nil {
				s.log.Error("recreate consumer groups", "err", gerr)
			}
		}
		var missing []*Message
		for _, m := range msgs {
			if present[m.ID] {
				out = append(out, m)
			} else {
				missing = append(missing, m)
			}
		}
		out = append(out, s.republishVanished(ctx, key, missing)...)
	}
	return out
}

// republishVanished deals with entries waiting for a retry that are no
// longer pending for this consumer. One still in the stream, or gone from a
// Redis that has been up since the entry was read, is someone else's now
// (claimed or acknowledged by another consumer, then perhaps trimmed; or
// its recreated group reads it again): dropped here. One gone from a Redis
// that restarted since was lost with it (a restart without persistence):
// its original fields are added to the stream again, as a new entry that
// the group reads as a first delivery — at least once, never lost. It
// returns the entries to handle anyway because Redis could not be asked
// (as when it is unreachable: the acknowledgement then waits for Redis).
func (s *stageRunner) republishVanished(ctx context.Context, key string, msgs []*Message) []*Message {
	var handle []*Message
	var upSince time.Time
	if len(msgs) > 0 {
		var err error
		if upSince, err = redisUpSince(ctx, s.r.rdb, key); err != nil {
			return msgs
		}
	}
	for _, m := range msgs {
		still, err := s.r.rdb.XRangeN(ctx, key, m.ID, m.ID, 1).Result()
		if err != nil {
			handle = append(handle, m)
			continue
		}
		// upSince is known to a second either way: an entry read within
		// that second of a start counts as read before it (republishing
		// what was only trimmed makes a duplicate, which at-least-once
		// allows; dropping what was lost would lose it).
		if len(still) > 0 || !upSince.Add(uptimeResolution).After(m.FirstSeen) {
			s.log.LogAttrs(ctx, slog.LevelInfo, "entry waiting for a retry was taken over by another consumer; dropped here",
				m.LogAttrs()...)
			s.release(1, m)
			continue
		}
		newID, err := s.r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: m.Values}).Result()
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "republish a vanished entry; handling it anyway",
				append(m.LogAttrs(), slog.String("err", err.Error()))...)
			handle = append(handle, m)
			continue
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "entry vanished from its stream while waiting for a retry (Redis lost it); republished",
			append(m.LogAttrs(), slog.String("new_entry_id", newID))...)
		s.r.metrics.republished.WithLabelValues(s.def.Name).Inc()
		s.release(1, m)
	}
	return handle
}

// reclaim XCLAIMs the entries and reports which still exist. Entries parked
// by an outage are claimed with JUSTID, which leaves their delivery count
// alone: a replica taking them over after a crash must not read the outage
// as spent attempts.
func (s *stageRunner) reclaim(ctx context.Context, key string, msgs []*Message, ids []string) (map[string]bool, error) {
	var counted, parked []string
	for i, m := range msgs {
		if m.parked {
			parked = append(parked, ids[i])
		} else {
			counted = append(counted, ids[i])
		}
	}
	present := make(map[string]bool, len(ids))
	if len(counted) > 0 {
		claimed, err := s.r.rdb.XClaim(ctx, &redis.XClaimArgs{
			Stream: key, Group: s.def.Name, Consumer: s.consumer, MinIdle: 0, Messages: counted,
		}).Result()
		if err != nil {
			return nil, err
		}
		for _, x := range claimed {
			present[x.ID] = x.Values != nil
		}
	}
	if len(parked) > 0 {
		claimed, err := s.r.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: key, Group: s.def.Name, Consumer: s.consumer, MinIdle: 0, Messages: parked,
		}).Result()
		if err != nil {
			return nil, err
		}
		for _, id := range claimed {
			present[id] = true
		}
	}
	return present, nil
}

func (s *stageRunner) handBackRetries() {
	s.retryMu.Lock()
	var msgs []*Message
	for _, it := range s.retryQ {
		msgs = append(msgs, it.msg)
	}
	s.retryQ = nil
	s.retryClosed = true
	s.retryMu.Unlock()
	s.handBack(msgs)
}

// retryDelay is the wait before the retry of a failed attempt: exponential
// (retry_initial_backoff doubling per attempt, the interval capped at
// retry_max_backoff) with ±50% jitter around it, so that retries of many
// entries that failed together spread out (cenkalti/backoff's
// ExponentialBackOff).
func retryDelay(cfg config.Runner, attempt int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     cfg.RetryInitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         cfg.RetryMaxBackoff,
	}
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type retryItem struct {
	due time.Time
	msg *Message
}

// retryHeap orders waiting retries by due time.
type retryHeap []retryItem

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(retryItem)) }
func (h *retryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// uptimeResolution is how far redisUpSince may be off: Redis counts its
// uptime in whole seconds of its clock.
const uptimeResolution = time.Second

// redisUpSince is when the Redis server holding key last started (INFO
// server's uptime_in_seconds, to within uptimeResolution): an entry read
// before then and missing now was lost by a restart without persistence,
// not acknowledged and trimmed.
func redisUpSince(ctx context.Context, rdb redis.UniversalClient, key string) (time.Time, error) {
	var node redis.UniversalClient = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		master, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return time.Time{}, fmt.Errorf("find the node of %s: %w", key, err)
		}
		node = master
	}
	info, err := node.Info(ctx, "server").Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("INFO server: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "uptime_in_seconds:"); ok {
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("INFO server: uptime_in_seconds %q: %w", v, err)
			}
			return time.Now().Add(-time.Duration(secs) * time.Second), nil
		}
	}
	return time.Time{}, errors.New("INFO server has no uptime_in_seconds")
}
