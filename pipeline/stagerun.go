package pipeline

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

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
}

// tracked is an entry this process holds (handling, waiting for a retry, or
// waiting for its acknowledgement).
type tracked struct {
	key       string
	id        string
	lastTouch time.Time
}

// completion is a finished entry for the acker: acknowledged with its
// outputs, or dead-lettered.
type completion struct {
	msg *Message
	dlq map[string]any // DLQ entry fields; nil for a success
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
	for _, in := range r.inputsOf(def) {
		s.inputs = append(s.inputs, groupRef{stream: in, key: r.keys.Stream(in), group: def.Name})
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
	helpers.Add(2)
	go func() { defer helpers.Done(); s.scheduleRetries(ctx) }()
	go func() { defer helpers.Done(); s.claimLoop(ctx) }()

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
	for _, status := range []string{StatusSuccess, StatusRetry, StatusDLQ} {
		m.messages.WithLabelValues(name, status)
	}
	for _, reason := range []string{ClassPermanent, ClassExhausted} {
		m.dlq.WithLabelValues(name, reason)
	}
	m.retries.WithLabelValues(name)
	m.claimed.WithLabelValues(name)
}

// acquire reserves up to n in-flight slots, waiting while the stage is full.
func (s *stageRunner) acquire(ctx context.Context, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inflight >= s.pool.MaxInflight && ctx.Err() == nil {
		s.cond.Wait()
	}
	if ctx.Err() != nil {
		return 0
	}
	n = min(n, s.pool.MaxInflight-s.inflight)
	s.inflight += n
	return n
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

func (s *stageRunner) trackKey(m *Message) string { return s.r.keys.Stream(m.Stream) + "/" + m.ID }

// fetch reads new entries until ctx is cancelled.
func (s *stageRunner) fetch(ctx context.Context) {
	// Wake a fetcher waiting for capacity when the run context ends.
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()

	streams := make([]string, 0, 2*len(s.inputs))
	for _, in := range s.inputs {
		streams = append(streams, in.key)
	}
	for range s.inputs {
		streams = append(streams, ">")
	}
	failures := 0
	for ctx.Err() == nil {
		if s.paused.Load() {
			sleepCtx(ctx, pausePoll)
			continue
		}
		n := s.acquire(ctx, s.pool.BatchSize)
		if n == 0 {
			continue
		}
		res, err := s.r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.def.Name, Consumer: s.consumer, Streams: streams,
			Count: int64(n), Block: s.r.cfg.Runner.Block,
		}).Result()
		if err != nil {
			s.release(n)
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			failures++
			if isNoGroup(err) {
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
			name := s.streamName(st.Stream)
			for _, x := range st.Messages {
				msgs = append(msgs, &Message{Stream: name, ID: x.ID, Values: x.Values, Attempt: 1, FirstSeen: now})
			}
		}
		if unused := n - len(msgs); unused > 0 {
			s.release(unused)
		}
		s.admit(msgs)
	}
}

// streamName maps a Redis key back to the unprefixed stream name.
func (s *stageRunner) streamName(key string) string {
	for _, in := range s.inputs {
		if in.key == key {
			return in.stream
		}
	}
	return key
}

// admit tracks entries (their slots are already reserved) and dispatches
// them; oversized entries and entries delivered too often go straight to the
// DLQ without reaching the stage.
func (s *stageRunner) admit(msgs []*Message) {
	now := time.Now()
	ready := msgs[:0]
	s.mu.Lock()
	for _, m := range msgs {
		s.tracked[s.trackKey(m)] = &tracked{key: s.r.keys.Stream(m.Stream), id: m.ID, lastTouch: now}
	}
	s.r.metrics.inflight.WithLabelValues(s.def.Name).Set(float64(len(s.tracked)))
	s.mu.Unlock()
	for _, m := range msgs {
		switch size := entrySize(m.Values); {
		case size > s.r.cfg.Runner.MaxEntryBytes:
			s.deadLetter(m, ClassPermanent, fmt.Errorf("entry too large: %d bytes exceeds runner.max_entry_bytes %d", size, s.r.cfg.Runner.MaxEntryBytes))
		case m.Attempt > s.r.cfg.Runner.MaxAttempts:
			s.deadLetter(m, ClassExhausted, fmt.Errorf("delivered %d times (runner.max_attempts %d); last consumer stopped while handling it", m.Attempt-1, s.r.cfg.Runner.MaxAttempts))
		default:
			ready = append(ready, m)
		}
	}
	s.dispatch(ready)
}

func entrySize(values map[string]any) int {
	n := 0
	for k, v := range values {
		n += len(k)
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

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

// work handles jobs until the job channel closes. Jobs still queued when the
// stage stops are handed back rather than started.
func (s *stageRunner) work(runCtx, hctx context.Context) {
	for job := range s.jobs {
		if runCtx.Err() != nil {
			s.handBack(job)
			continue
		}
		s.handle(hctx, job)
	}
}

func (s *stageRunner) handle(ctx context.Context, job []*Message) {
	for _, m := range job {
		m.reset()
	}
	start := time.Now()
	err := s.safeHandle(ctx, job)
	s.r.metrics.handleDuration.WithLabelValues(s.def.Name).Observe(time.Since(start).Seconds())
	for _, m := range job {
		failure := m.err
		if failure == nil && err != nil {
			failure = err
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
}

// safeHandle turns a panicking stage into a permanent failure of the batch,
// so one poisonous entry cannot take the process down.
func (s *stageRunner) safeHandle(ctx context.Context, job []*Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("stage panicked", "panic", p, "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("stage %s panicked: %v", s.def.Name, p))
		}
	}()
	return s.stage.Handle(ctx, job)
}

func (s *stageRunner) retryLater(m *Message, failure error) {
	wait := retryDelay(s.r.cfg.Runner, m.Attempt)
	if hint, ok := RetryAfterHint(failure); ok && hint > wait {
		wait = hint
	}
	s.r.metrics.retries.WithLabelValues(s.def.Name).Inc()
	s.r.metrics.messages.WithLabelValues(s.def.Name, StatusRetry).Inc()
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "transient failure; will retry",
		append(m.LogAttrs(), slog.String("err", failure.Error()), slog.Duration("backoff", wait))...)
	m.Attempt++
	s.retryMu.Lock()
	if s.retryClosed { // shutting down: leave it pending for the next consumer
		s.retryMu.Unlock()
		s.handBack([]*Message{m})
		return
	}
	heap.Push(&s.retryQ, retryItem{due: time.Now().Add(wait), msg: m})
	s.retryMu.Unlock()
	select {
	case s.retryCh <- struct{}{}:
	default:
	}
}

// scheduleRetries re-dispatches messages whose backoff has passed.
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
// includes the retries made here. An entry that is gone (acknowledged or
// trimmed elsewhere, its group recreated) is dropped instead of handled.
func (s *stageRunner) redeliver(ctx context.Context, due []*Message) []*Message {
	if len(due) == 0 {
		return nil
	}
	byKey := map[string][]*Message{}
	for _, m := range due {
		k := s.r.keys.Stream(m.Stream)
		byKey[k] = append(byKey[k], m)
	}
	out := due[:0]
	var gone []*Message
	for key, msgs := range byKey {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		claimed, err := s.r.rdb.XClaim(ctx, &redis.XClaimArgs{
			Stream: key, Group: s.def.Name, Consumer: s.consumer, MinIdle: 0, Messages: ids,
		}).Result()
		if err != nil && !isNoGroup(err) {
			// Redis unreachable: handle them anyway; the acknowledgement
			// will wait for Redis, and nothing is lost.
			out = append(out, msgs...)
			continue
		}
		present := make(map[string]bool, len(claimed))
		for _, x := range claimed {
			present[x.ID] = x.Values != nil
		}
		for _, m := range msgs {
			if present[m.ID] {
				out = append(out, m)
			} else {
				gone = append(gone, m)
			}
		}
	}
	if len(gone) > 0 {
		s.log.Warn("entries vanished while waiting for a retry; dropped", "count", len(gone))
		s.release(len(gone), gone...)
	}
	return out
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

// handBack gives entries up without acknowledging them: they stay pending
// and another consumer claims them after runner.claim_min_idle.
func (s *stageRunner) handBack(msgs []*Message) {
	if len(msgs) > 0 {
		s.release(len(msgs), msgs...)
	}
}

// deadLetter queues an entry for the DLQ with the reason (spec section 3).
func (s *stageRunner) deadLetter(m *Message, class string, failure error) {
	original, _ := json.Marshal(m.Values) // values are strings from Redis: cannot fail
	traceID := m.Meta().TraceID
	fields := map[string]any{
		DataField:       string(original),
		"stream":        m.Stream,
		"group":         s.def.Name,
		"entry_id":      m.ID,
		"stage":         s.def.Name,
		"error":         failure.Error(),
		"error_class":   class,
		"attempts":      strconv.Itoa(m.Attempt),
		"first_seen_at": m.FirstSeen.UTC().Format(time.RFC3339Nano),
		"failed_at":     time.Now().UTC().Format(time.RFC3339Nano),
		"trace_id":      traceID,
	}
	s.log.LogAttrs(context.Background(), slog.LevelError, "entry dead-lettered",
		append(m.LogAttrs(), slog.String("error_class", class), slog.String("err", failure.Error()))...)
	s.results <- completion{msg: m, dlq: fields}
}

// ack writes finished entries: outputs and DLQ entries are added and the
// inputs acknowledged in one MULTI/EXEC per group of completions.
func (s *stageRunner) ack(ctx context.Context) {
	const maxGroup = 512
	buf := make([]completion, 0, maxGroup)
	for c := range s.results {
		buf = append(buf[:0], c)
	drain:
		for len(buf) < maxGroup {
			select {
			case c, ok := <-s.results:
				if !ok {
					break drain
				}
				buf = append(buf, c)
			default:
				break drain
			}
		}
		s.flush(ctx, buf)
	}
}

// flush commits one group of completions, retrying while Redis is away. If
// the shutdown deadline passes first, the entries stay pending and are
// redelivered later (at least once, never lost).
func (s *stageRunner) flush(ctx context.Context, batch []completion) {
	msgs := make([]*Message, len(batch))
	for i, c := range batch {
		msgs[i] = c.msg
	}
	for attempt := 1; ; attempt++ {
		err := s.commit(ctx, batch)
		if err == nil || isNoGroup(err) {
			if err != nil {
				// The group vanished with its pending list: the entries will
				// be delivered again from the recreated group.
				s.log.Warn("acknowledge: consumer group missing; recreating it", "err", err)
				_ = s.r.ensureGroups(ctx)
			}
			for _, c := range batch {
				if c.dlq != nil {
					s.r.metrics.messages.WithLabelValues(s.def.Name, StatusDLQ).Inc()
					s.r.metrics.dlq.WithLabelValues(s.def.Name, c.dlq["error_class"].(string)).Inc()
				} else {
					s.r.metrics.messages.WithLabelValues(s.def.Name, StatusSuccess).Inc()
					for _, fn := range c.msg.committed {
						fn()
					}
				}
			}
			s.release(len(batch), msgs...)
			return
		}
		if ctx.Err() != nil {
			s.log.Error("acknowledge: giving up at shutdown; entries stay pending", "err", err, "entries", len(batch))
			s.cutOff.Add(int64(len(batch)))
			s.release(len(batch), msgs...)
			return
		}
		s.log.Error("acknowledge entries", "err", err, "entries", len(batch), "attempt", attempt)
		sleepCtx(ctx, retryDelay(s.r.cfg.Runner, attempt))
	}
}

func (s *stageRunner) commit(ctx context.Context, batch []completion) error {
	keys := s.r.keys
	pipe := pipeliner(s.r.rdb)
	acks := map[string][]string{}
	for _, c := range batch {
		m := c.msg
		if c.dlq != nil {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.DLQ(m.Stream), Values: c.dlq})
		} else {
			for _, o := range m.outputs {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(o.stream), Values: o.values})
			}
			for _, mk := range m.marks {
				pipe.Set(ctx, keys.Key(mk.key), mk.value, mk.ttl)
			}
		}
		k := keys.Stream(m.Stream)
		acks[k] = append(acks[k], m.ID)
	}
	for k, ids := range acks {
		pipe.XAck(ctx, k, s.def.Name, ids...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// claimLoop takes over entries idle longer than runner.claim_min_idle in
// other consumers (a replica that died), and keeps this process's own slow
// entries from looking idle to others.
func (s *stageRunner) claimLoop(ctx context.Context) {
	tick := time.NewTicker(s.r.cfg.Runner.ClaimInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.touchOwn(ctx)
		for _, in := range s.inputs {
			if err := s.claim(ctx, in); err != nil && ctx.Err() == nil {
				s.log.Warn("claim idle entries", "stream", in.key, "err", err)
			}
		}
	}
}

func (s *stageRunner) claim(ctx context.Context, in groupRef) error {
	n := s.tryAcquire(s.pool.BatchSize)
	if n == 0 {
		return nil
	}
	msgs, _, err := s.r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: in.key, Group: s.def.Name, Consumer: s.consumer,
		MinIdle: s.r.cfg.Runner.ClaimMinIdle, Start: "0-0", Count: int64(n),
	}).Result()
	if err != nil {
		s.release(n)
		if isNoGroup(err) {
			return nil
		}
		return err
	}
	// Skip entries this process already holds (claimed while handling).
	s.mu.Lock()
	fresh := msgs[:0]
	for _, x := range msgs {
		if _, held := s.tracked[in.key+"/"+x.ID]; !held && x.Values != nil {
			fresh = append(fresh, x)
		}
	}
	s.mu.Unlock()
	if unused := n - len(fresh); unused > 0 {
		s.release(unused)
	}
	if len(fresh) == 0 {
		return nil
	}
	// XAUTOCLAIM does not return delivery counts: read them from the PEL.
	counts := map[string]int64{}
	pend, err := s.r.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: in.key, Group: s.def.Name, Consumer: s.consumer,
		Start: fresh[0].ID, End: fresh[len(fresh)-1].ID, Count: int64(len(fresh)) + 64,
	}).Result()
	if err == nil {
		for _, p := range pend {
			counts[p.ID] = p.RetryCount
		}
	}
	now := time.Now()
	out := make([]*Message, 0, len(fresh))
	for _, x := range fresh {
		attempt := int(counts[x.ID])
		if attempt < 2 {
			attempt = 2 // claimed entries were delivered at least once before
		}
		out = append(out, &Message{Stream: in.stream, ID: x.ID, Values: x.Values, Attempt: attempt, FirstSeen: now})
	}
	s.r.metrics.claimed.WithLabelValues(s.def.Name).Add(float64(len(out)))
	s.log.Info("claimed idle entries", "stream", in.key, "count", len(out))
	s.admit(out)
	return nil
}

// touchOwn resets the idle time of entries this process has held for a
// while (slow handlers, long backoffs), so other replicas do not claim them.
// XCLAIM ... JUSTID does not count as a delivery.
func (s *stageRunner) touchOwn(ctx context.Context) {
	threshold := time.Now().Add(-s.r.cfg.Runner.ClaimMinIdle / 2)
	byKey := map[string][]string{}
	s.mu.Lock()
	for _, t := range s.tracked {
		if t.lastTouch.Before(threshold) {
			byKey[t.key] = append(byKey[t.key], t.id)
			t.lastTouch = time.Now()
		}
	}
	s.mu.Unlock()
	for key, ids := range byKey {
		err := s.r.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: key, Group: s.def.Name, Consumer: s.consumer, MinIdle: 0, Messages: ids,
		}).Err()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("refresh idle time of held entries", "stream", key, "err", err)
		}
	}
}

// retryDelay is exponential with jitter: initial·2^(attempt-1), capped, then a
// random value in its upper half, so retries of many entries spread out.
func retryDelay(cfg config.Runner, attempt int) time.Duration {
	d := cfg.RetryInitialBackoff
	for i := 1; i < attempt && d < cfg.RetryMaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cfg.RetryMaxBackoff)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
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
