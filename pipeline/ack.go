package pipeline

// ack.go: outputs, marks, DLQ entries and XACKs go to Redis together, in
// one MULTI/EXEC per group of finished entries.

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
)

// completion is a finished entry for the acker: acknowledged with its
// outputs, or dead-lettered.
type completion struct {
	msg   *Message
	dlq   map[string]any // DLQ entry fields; nil for a success
	class string         // the DLQ entry's error class
	// echo: the daemon's own copy read back from an old key, acknowledged
	// without being handled (counted in stage_echo_skipped_total only).
	echo bool
}

// deadLetter queues an entry for the DLQ with the reason (DLQEntry).
func (s *stageRunner) deadLetter(m *Message, class string, failure error) {
	s.log.LogAttrs(context.Background(), slog.LevelError, "entry dead-lettered",
		append(m.LogAttrs(), slog.String("error_class", class), slog.String("err", failure.Error()))...)
	e := NewDLQEntry(m, s.def.Name, class, failure, time.Now())
	s.results <- completion{msg: m, dlq: e.Encode(), class: class}
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
		for _, unit := range s.r.commitUnits(buf) {
			s.flush(ctx, unit)
		}
	}
}

// commitUnits divides finished entries into the groups one MULTI/EXEC can
// commit: on a cluster, one per partition (a partition's keys share one
// slot); on a single server, all of them.
func (r *Runner) commitUnits(batch []completion) [][]completion {
	if _, cluster := r.rdb.(*redis.ClusterClient); !cluster || !r.keys.Partitioned() {
		return [][]completion{batch}
	}
	index := map[int]int{}
	var units [][]completion
	for _, c := range batch {
		i, ok := index[c.msg.Partition]
		if !ok {
			i = len(units)
			index[c.msg.Partition] = i
			units = append(units, nil)
		}
		units[i] = append(units[i], c)
	}
	return units
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
		if err == nil || IsNoGroup(err) {
			if err != nil {
				// The group vanished with its pending list (Redis restarted
				// empty, or an operator destroyed it). Only the XACKs failed:
				// the outputs and DLQ copies went out in the same MULTI, so
				// these entries are done. The group is recreated for the
				// reads to come; any entry still in the stream at or after
				// the group's start is delivered again (at least once).
				s.log.Warn("acknowledge: consumer group missing; recreating it", "err", err)
				_ = s.r.ensureGroups(ctx)
			}
			for _, c := range batch {
				if c.dlq != nil {
					s.r.metrics.messages.WithLabelValues(s.def.Name, StatusDLQ).Inc()
					s.r.metrics.dlq.WithLabelValues(s.def.Name, c.class).Inc()
					s.progress.dlq.Add(1)
				} else if !c.echo {
					s.r.metrics.messages.WithLabelValues(s.def.Name, StatusSuccess).Inc()
					s.progress.handled.Add(1)
					for _, fn := range c.msg.committed {
						fn()
					}
				}
			}
			s.acked.Add(int64(len(batch)))
			s.release(len(batch), msgs...)
			return
		}
		if ctx.Err() != nil {
			s.log.Error("acknowledge: giving up at shutdown; entries stay pending", "err", err, "entries", len(batch))
			s.cutOff.Add(int64(len(batch)))
			s.handedBack.Add(int64(len(batch)))
			s.release(len(batch), msgs...)
			return
		}
		s.log.Error("acknowledge entries", "err", err, "entries", len(batch), "attempt", attempt)
		sleepCtx(ctx, retryDelay(s.r.cfg.Runner, attempt))
	}
}

// legacyValues renders an output for the old worker's key: posts.tagged in
// the old PostTaggedEventV1 shape, anything else as it is, and in both cases
// marked as the daemon's own (events.OriginField), so that its legacy
// consumer, which reads the same key, skips it. An output that cannot be
// read back (it was encoded by this process) goes as it is.
func (s *stageRunner) legacyValues(o output) map[string]any {
	values := o.values
	if o.stream == s.r.cfg.Streams.Tagged {
		var ev events.PostTagged
		if err := events.Decode(o.values, &ev); err != nil {
			s.log.Warn("legacy output: posts.tagged not readable, published as is", "err", err)
		} else if old, err := events.LegacyTagged(&ev); err != nil {
			s.log.Warn("legacy output: encode", "post_id", ev.PostID, "err", err)
		} else {
			values = old
		}
	}
	marked := make(map[string]any, len(values)+1)
	maps.Copy(marked, values)
	marked[events.OriginField] = events.OriginSelf
	return marked
}

func (s *stageRunner) commit(ctx context.Context, batch []completion) error {
	keys := s.r.keys
	// One MULTI/EXEC: on a cluster every key is in the slot of the batch's
	// one partition (commitUnits, partition.go).
	pipe := s.r.rdb.TxPipeline()
	acks := map[string][]string{}
	for _, c := range batch {
		m := c.msg
		if c.dlq != nil {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.PartDLQ(m.Partition, m.Stream), Values: c.dlq})
		} else {
			for _, o := range m.outputs {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.PartStream(m.Partition, o.stream), Values: o.values})
				if legacy, ok := s.r.legacyOut[o.stream]; ok {
					// The old downstream tasks read the old key: same
					// MULTI/EXEC, their format.
					pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(legacy), Values: s.legacyValues(o)})
				}
			}
			for _, mk := range m.marks {
				pipe.Set(ctx, keys.PartKey(m.Partition, mk.key), mk.value, mk.ttl)
			}
		}
		k := keys.PartStream(m.Partition, m.Stream)
		acks[k] = append(acks[k], m.ID)
	}
	for k, ids := range acks {
		pipe.XAck(ctx, k, s.def.Name, ids...)
	}
	_, err := pipe.Exec(ctx)
	return err
}
