package pipeline

// fetch.go: reading new entries (XREADGROUP) into the in-flight budget.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
)

// fetch reads new entries until ctx is cancelled: one reader per read set
// (readSets), all drawing on the stage's one in-flight budget.
func (s *stageRunner) fetch(ctx context.Context) {
	// Wake a fetcher waiting for capacity when the run context ends.
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	sets := s.r.readSets(s.inputs)
	// A reader holds its reservation while it blocks on an empty
	// partition: each may reserve only its share of the budget, so that
	// readers of busy partitions are not starved by idle ones.
	batch := min(s.pool.BatchSize, max(1, s.pool.MaxInflight/len(sets)))
	var wg sync.WaitGroup
	for _, set := range sets[1:] {
		wg.Go(func() { s.fetchSet(ctx, set, batch) })
	}
	s.fetchSet(ctx, sets[0], batch)
	wg.Wait()
}

// readSets divides a stage's inputs into the sets one XREADGROUP reads. A
// cluster runs a command only within one slot: one set per partition. A
// single server reads every partition in one XREADGROUP, as it did one
// stream (partitioning then costs no extra round trip).
func (r *Runner) readSets(inputs []groupRef) [][]groupRef {
	if _, cluster := r.rdb.(*redis.ClusterClient); !cluster {
		return [][]groupRef{inputs}
	}
	var sets [][]groupRef
	for _, in := range inputs {
		if len(sets) == 0 || sets[len(sets)-1][0].partition != in.partition {
			sets = append(sets, nil)
		}
		sets[len(sets)-1] = append(sets[len(sets)-1], in)
	}
	return sets
}

// fetchSet reads new entries of one read set until ctx is cancelled.
func (s *stageRunner) fetchSet(ctx context.Context, inputs []groupRef, batch int) {
	streams := make([]string, 0, 2*len(inputs))
	for _, in := range inputs {
		streams = append(streams, in.key)
	}
	for range inputs {
		streams = append(streams, ">")
	}
	failures := 0
	for ctx.Err() == nil {
		if s.paused.Load() {
			s.parked.Store(true)
			sleepCtx(ctx, pausePoll)
			continue
		}
		s.parked.Store(false)
		s.waitWhilePaused(ctx)
		n := s.acquire(ctx, batch)
		if n == 0 {
			continue
		}
		// XREADGROUP's COUNT holds per stream: a read of k keys (the
		// partitions on one server, a legacy input) may return k × COUNT.
		// Each key gets its share of the reserved slots; with fewer slots
		// than keys, one each (the budget is then exceeded by fewer than
		// k entries, see below).
		res, err := s.r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.def.Name, Consumer: s.consumer, Streams: streams,
			Count: int64(max(1, n/len(inputs))), Block: s.r.cfg.Runner.Block,
		}).Result()
		if err != nil {
			s.release(n)
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			failures++
			if IsNoGroup(err) {
				s.log.Warn("consumer group missing; recreating it", "err", err)
				if gerr := s.r.ensureGroups(ctx); gerr != nil {
					s.log.Error("recreate consumer groups", "err", gerr)
				}
			} else {
				s.log.Error("read stream", "err", err, "consecutive_failures", failures)
			}
			sleepCtx(ctx, retryDelay(s.r.cfg.Runner, failures))
			continue
		}
		failures = 0
		now := time.Now()
		var msgs []*Message
		for _, st := range res {
			in := s.input(st.Stream)
			for _, x := range st.Messages {
				msgs = append(msgs, &Message{Stream: in.stream, Partition: in.partition, ID: x.ID, Values: x.Values, Attempt: 1, FirstSeen: now})
			}
		}
		if unused := n - len(msgs); unused > 0 {
			s.release(unused)
		} else if unused < 0 {
			s.reserveExcess(-unused)
		}
		s.admit(msgs)
	}
}

// input maps a Redis key back to the input it belongs to.
func (s *stageRunner) input(key string) groupRef {
	for _, in := range s.inputs {
		if in.key == key {
			return in
		}
	}
	return groupRef{stream: key, key: key}
}

// admit tracks entries (their slots are already reserved) and dispatches
// them; oversized entries and entries delivered too often go straight to the
// DLQ without reaching the stage.
func (s *stageRunner) admit(msgs []*Message) {
	now := time.Now()
	ready := msgs[:0]
	s.mu.Lock()
	for _, m := range msgs {
		s.tracked[s.trackKey(m)] = &tracked{key: s.r.keys.PartStream(m.Partition, m.Stream), id: m.ID, lastTouch: now}
	}
	s.r.metrics.inflight.WithLabelValues(s.def.Name).Set(float64(len(s.tracked)))
	s.mu.Unlock()
	for _, m := range msgs {
		switch size := entrySize(m.Values); {
		case size > s.r.cfg.Runner.MaxEntryBytes:
			s.deadLetter(m, ClassPermanent, fmt.Errorf("entry too large: %d bytes exceeds runner.max_entry_bytes %d", size, s.r.cfg.Runner.MaxEntryBytes))
		case s.isOwnEcho(m):
			// A copy this daemon published to an old key for the old
			// downstream tasks: reading it back would store a post from an
			// event that carries less than the one it came from.
			s.r.metrics.echoSkipped.WithLabelValues(s.def.Name).Inc()
			s.results <- completion{msg: m, echo: true}
		case m.Attempt > s.r.cfg.Runner.MaxAttempts:
			s.deadLetter(m, ClassExhausted, fmt.Errorf("delivered %d times (runner.max_attempts %d); last consumer stopped while handling it", m.Attempt-1, s.r.cfg.Runner.MaxAttempts))
		default:
			ready = append(ready, m)
		}
	}
	s.dispatch(ready)
}

// isOwnEcho reports whether m was read from an old worker's key the runner
// also publishes to, and is one of the copies it published there.
func (s *stageRunner) isOwnEcho(m *Message) bool {
	if !events.IsOwnEcho(m.Values) {
		return false
	}
	for _, legacy := range s.r.legacyOut {
		if legacy == m.Stream {
			return true
		}
	}
	return false
}

// entrySize is the size of an entry as runner.max_entry_bytes counts it:
// the bytes of its field names and values. Entries read from Redis hold
// strings; outputs may hold bytes.
func entrySize(values map[string]any) int {
	n := 0
	for k, v := range values {
		n += len(k)
		switch v := v.(type) {
		case string:
			n += len(v)
		case []byte:
			n += len(v)
		}
	}
	return n
}
