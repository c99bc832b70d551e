package operator

// Operator tools behind `assistant streams` and `assistant dlq`: read-only
// reports on streams and groups, and the dead-letter queue's list, show,
// replay and purge. They take a Redis client and the key namer only, so they
// work from any host that can reach Redis, without a running daemon.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/redis/go-redis/v9"
)

// StreamReport describes one stream, its consumer groups and its DLQ.
type StreamReport struct {
	Stream string `json:"stream"` // unprefixed name
	Key    string `json:"key"`    // Redis key
	// Exists is false when the key is absent (no producer or group yet).
	Exists        bool          `json:"exists"`
	Length        int64         `json:"length"`
	FirstEntryID  string        `json:"first_entry_id"`
	LastEntryID   string        `json:"last_entry_id"`
	Groups        []GroupReport `json:"groups"`
	DLQKey        string        `json:"dlq_key"`
	DLQLength     int64         `json:"dlq_length"`
	DLQNewestTime time.Time     `json:"dlq_newest_time"` // when the newest DLQ entry was added; zero when empty
	// Partitioned streams (streams.partitions > 1): the fields above sum
	// the partitions and the unpartitioned key (Key, which the router
	// empties: its group is pipeline.RouterGroup); Partitions holds each
	// partition's own report, Partition its number. DLQKey is then empty.
	Partition  int            `json:"partition"`
	Partitions []StreamReport `json:"partitions,omitempty"`
}

// GroupReport describes one consumer group of a stream.
type GroupReport struct {
	Name            string `json:"name"`
	LastDeliveredID string `json:"last_delivered_id"`
	// Lag is the number of entries not yet delivered to the group; -1 when
	// Redis cannot tell (after entries were deleted from the middle).
	Lag int64 `json:"lag"`
	// Pending is the number of entries delivered but not acknowledged.
	Pending         int64  `json:"pending"`
	OldestPendingID string `json:"oldest_pending_id"`
	// OldestPendingAge is now minus the time in the oldest pending entry's
	// id, that is how long ago that entry entered the stream. It is the
	// delay the group imposes on its oldest unfinished post, whatever
	// happened in between (redeliveries reset the idle time, not this).
	OldestPendingAge time.Duration `json:"oldest_pending_age_ns"`
	// OldestPendingIdle is how long ago the oldest pending entry was last
	// delivered (XPENDING's idle time): large when its consumer died.
	OldestPendingIdle time.Duration `json:"oldest_pending_idle_ns"`
	// OldestPendingDeliveries is how often it has been delivered.
	OldestPendingDeliveries int64            `json:"oldest_pending_deliveries"`
	Consumers               []ConsumerReport `json:"consumers"`
}

// ConsumerReport describes one consumer of a group.
type ConsumerReport struct {
	Name    string        `json:"name"`
	Pending int64         `json:"pending"`
	Idle    time.Duration `json:"idle_ns"`
}

// StreamsReport reads the state of each named (unprefixed) stream: XINFO
// STREAM, XINFO GROUPS, the XPENDING summary and XINFO CONSUMERS of each
// group, and the length of its DLQ. A stream that does not exist is reported
// with Exists false rather than as an error.
func StreamsReport(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, streams []string) ([]StreamReport, error) {
	now := time.Now()
	reports := make([]StreamReport, 0, len(streams))
	for _, stream := range streams {
		rep, err := streamReport(ctx, rdb, keys, stream, now)
		if err != nil {
			return nil, fmt.Errorf("report on stream %s: %w", stream, err)
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func streamReport(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, now time.Time) (StreamReport, error) {
	if !keys.Partitioned() {
		return keyReport(ctx, rdb, StreamReport{Stream: stream, Key: keys.Stream(stream), DLQKey: keys.DLQ(stream)}, now)
	}
	sum, err := keyReport(ctx, rdb, StreamReport{Stream: stream, Key: keys.Stream(stream), Partition: -1}, now)
	if err != nil {
		return sum, err
	}
	for p := range keys.PartitionCount() {
		part, err := keyReport(ctx, rdb, StreamReport{Stream: stream, Key: keys.PartStream(p, stream), DLQKey: keys.PartDLQ(p, stream), Partition: p}, now)
		if err != nil {
			return sum, fmt.Errorf("partition %d: %w", p, err)
		}
		sum.Partitions = append(sum.Partitions, part)
		addReport(&sum, part)
	}
	return sum, nil
}

// addReport adds a partition's report into the stream's sum: lengths, lag
// and pending entries add up, the oldest pending entry is the oldest of
// any, a consumer's pending entries add up and its idle time is its least.
func addReport(sum *StreamReport, part StreamReport) {
	sum.Exists = sum.Exists || part.Exists
	sum.Length += part.Length
	sum.DLQLength += part.DLQLength
	if part.DLQNewestTime.After(sum.DLQNewestTime) {
		sum.DLQNewestTime = part.DLQNewestTime
	}
	if sum.FirstEntryID == "" || lessID(part.FirstEntryID, sum.FirstEntryID) {
		sum.FirstEntryID = part.FirstEntryID
	}
	if lessID(sum.LastEntryID, part.LastEntryID) {
		sum.LastEntryID = part.LastEntryID
	}
	for _, g := range part.Groups {
		i := slices.IndexFunc(sum.Groups, func(s GroupReport) bool { return s.Name == g.Name })
		if i < 0 {
			g.Consumers = slices.Clone(g.Consumers)
			sum.Groups = append(sum.Groups, g)
			continue
		}
		s := &sum.Groups[i]
		if s.Lag < 0 || g.Lag < 0 {
			s.Lag = -1
		} else {
			s.Lag += g.Lag
		}
		s.Pending += g.Pending
		if lessID(s.LastDeliveredID, g.LastDeliveredID) {
			s.LastDeliveredID = g.LastDeliveredID
		}
		if g.OldestPendingID != "" && (s.OldestPendingID == "" || g.OldestPendingAge > s.OldestPendingAge) {
			s.OldestPendingID, s.OldestPendingAge = g.OldestPendingID, g.OldestPendingAge
			s.OldestPendingIdle, s.OldestPendingDeliveries = g.OldestPendingIdle, g.OldestPendingDeliveries
		}
		for _, c := range g.Consumers {
			j := slices.IndexFunc(s.Consumers, func(x ConsumerReport) bool { return x.Name == c.Name })
			if j < 0 {
				s.Consumers = append(s.Consumers, c)
				continue
			}
			s.Consumers[j].Pending += c.Pending
			s.Consumers[j].Idle = min(s.Consumers[j].Idle, c.Idle)
		}
	}
}

// lessID compares two entry ids; an empty or unreadable one is the least.
func lessID(a, b string) bool {
	x, errA := pipeline.ParseStreamID(a)
	y, errB := pipeline.ParseStreamID(b)
	switch {
	case errB != nil:
		return false
	case errA != nil:
		return true
	}
	return x.Less(y)
}

// keyReport reads one stream key (and its DLQ key, when it has one).
func keyReport(ctx context.Context, rdb redis.UniversalClient, rep StreamReport, now time.Time) (StreamReport, error) {
	if rep.DLQKey == "" {
		return streamKeyReport(ctx, rdb, rep, now)
	}
	dlqLen, err := rdb.XLen(ctx, rep.DLQKey).Result()
	if err != nil {
		return rep, fmt.Errorf("XLEN %s: %w", rep.DLQKey, err)
	}
	rep.DLQLength = dlqLen
	if dlqLen > 0 {
		newest, err := rdb.XRevRangeN(ctx, rep.DLQKey, "+", "-", 1).Result()
		if err != nil {
			return rep, fmt.Errorf("XREVRANGE %s: %w", rep.DLQKey, err)
		}
		if len(newest) == 1 {
			if id, err := pipeline.ParseStreamID(newest[0].ID); err == nil {
				rep.DLQNewestTime = id.Time()
			}
		}
	}

	return streamKeyReport(ctx, rdb, rep, now)
}

func streamKeyReport(ctx context.Context, rdb redis.UniversalClient, rep StreamReport, now time.Time) (StreamReport, error) {
	info, err := rdb.XInfoStream(ctx, rep.Key).Result()
	if pipeline.IsNoSuchKey(err) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("XINFO STREAM %s: %w", rep.Key, err)
	}
	rep.Exists = true
	rep.Length = info.Length
	rep.FirstEntryID = info.FirstEntry.ID
	rep.LastEntryID = info.LastEntry.ID

	groups, err := rdb.XInfoGroups(ctx, rep.Key).Result()
	if err != nil {
		return rep, fmt.Errorf("XINFO GROUPS %s: %w", rep.Key, err)
	}
	for _, g := range groups {
		gr := GroupReport{Name: g.Name, LastDeliveredID: g.LastDeliveredID, Lag: g.Lag, Pending: g.Pending}
		if g.Pending > 0 {
			if err := fillOldestPending(ctx, rdb, rep.Key, &gr, now); err != nil {
				return rep, err
			}
		}
		consumers, err := rdb.XInfoConsumers(ctx, rep.Key, g.Name).Result()
		if err != nil {
			return rep, fmt.Errorf("XINFO CONSUMERS %s %s: %w", rep.Key, g.Name, err)
		}
		for _, c := range consumers {
			gr.Consumers = append(gr.Consumers, ConsumerReport{Name: c.Name, Pending: c.Pending, Idle: c.Idle})
		}
		rep.Groups = append(rep.Groups, gr)
	}
	return rep, nil
}

// fillOldestPending reads the oldest pending entry of a group: its id from
// the XPENDING summary, then its idle time and delivery count from the
// extended form restricted to that id.
func fillOldestPending(ctx context.Context, rdb redis.UniversalClient, key string, gr *GroupReport, now time.Time) error {
	sum, err := rdb.XPending(ctx, key, gr.Name).Result()
	if err != nil {
		return fmt.Errorf("XPENDING %s %s: %w", key, gr.Name, err)
	}
	if sum.Count == 0 || sum.Lower == "" {
		return nil // acknowledged between XINFO GROUPS and now
	}
	gr.Pending = sum.Count
	gr.OldestPendingID = sum.Lower
	if id, err := pipeline.ParseStreamID(sum.Lower); err == nil {
		gr.OldestPendingAge = max(now.Sub(id.Time()), 0)
	}
	ext, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: key, Group: gr.Name, Start: sum.Lower, End: sum.Lower, Count: 1,
	}).Result()
	if err != nil {
		return fmt.Errorf("XPENDING %s %s %s: %w", key, gr.Name, sum.Lower, err)
	}
	if len(ext) == 1 {
		gr.OldestPendingIdle = ext[0].Idle
		gr.OldestPendingDeliveries = ext[0].RetryCount
	}
	return nil
}

// DLQPage is a slice of one DLQ, oldest first.
type DLQPage struct {
	Key     string
	Total   int64 // entries in the DLQ
	Entries []pipeline.DLQEntry
}

// DLQList returns up to limit entries of stream's DLQ, oldest first (all of
// them when limit <= 0), and the DLQ's total length.
// With partitions, the page merges every partition's DLQ by time.
func DLQList(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, limit int) (DLQPage, error) {
	page := DLQPage{Key: keys.DLQ(stream)}
	if keys.Partitioned() {
		page.Key = ""
	}
	for _, part := range dlqParts(keys, stream) {
		total, err := rdb.XLen(ctx, part.key).Result()
		if err != nil {
			return page, fmt.Errorf("XLEN %s: %w", part.key, err)
		}
		page.Total += total
		var msgs []redis.XMessage
		if limit > 0 {
			msgs, err = rdb.XRangeN(ctx, part.key, "-", "+", int64(limit)).Result()
		} else {
			msgs, err = rdb.XRange(ctx, part.key, "-", "+").Result()
		}
		if err != nil {
			return page, fmt.Errorf("XRANGE %s: %w", part.key, err)
		}
		entries := make([]pipeline.DLQEntry, 0, len(msgs))
		for _, m := range msgs {
			entries = append(entries, pipeline.DecodeDLQEntry(m))
		}
		qualify(keys, entries, part.partition)
		page.Entries = append(page.Entries, entries...)
	}
	if keys.Partitioned() {
		sortByDLQTime(page.Entries)
		if limit > 0 && len(page.Entries) > limit {
			page.Entries = page.Entries[:limit]
		}
	}
	return page, nil
}

// ErrDLQEntryNotFound is returned when an id is in none of the searched DLQs.
var ErrDLQEntryNotFound = errors.New("DLQ entry not found")

// ErrDLQEntryAmbiguous is returned when an id is in more than one of the
// searched DLQs: ids are per stream, and two DLQs written in the same
// millisecond share ids.
var ErrDLQEntryAmbiguous = errors.New("DLQ entry id is ambiguous")

// DLQGet finds the DLQ entry with the given DLQ id in the DLQs of streams.
// Pass one stream when it is known; an id found in several DLQs is an
// ErrDLQEntryAmbiguous naming them.
func DLQGet(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, streams []string, id string) (pipeline.DLQEntry, error) {
	raw, p, err := splitID(keys, id)
	if err != nil {
		return pipeline.DLQEntry{}, err
	}
	var found []pipeline.DLQEntry
	var where []string
	for _, stream := range streams {
		for _, part := range partsOf(dlqParts(keys, stream), p) {
			msgs, err := rdb.XRange(ctx, part.key, raw, raw).Result()
			if err != nil {
				return pipeline.DLQEntry{}, fmt.Errorf("XRANGE %s %s: %w", part.key, raw, err)
			}
			if len(msgs) == 1 {
				e := pipeline.DecodeDLQEntry(msgs[0])
				if e.Stream == "" {
					e.Stream = stream
				}
				e.ID = qualifyID(keys, e.ID, part.partition)
				found = append(found, e)
				where = append(where, e.ID+" of "+stream)
			}
		}
	}
	switch len(found) {
	case 0:
		return pipeline.DLQEntry{}, fmt.Errorf("%w: %s in the DLQ of %s", ErrDLQEntryNotFound, id, strings.Join(streams, ", "))
	case 1:
		return found[0], nil
	default:
		return pipeline.DLQEntry{}, fmt.Errorf("%w: %s is in the DLQs of %s; name the stream", ErrDLQEntryAmbiguous, id, strings.Join(where, ", "))
	}
}

// DLQResult counts what a replay or purge did.
type DLQResult struct {
	Done int
	// Skipped lists entries that could not be replayed (their data field is
	// not a JSON object), each with the reason; they stay in the DLQ.
	Skipped []string
}

// DLQReplay puts dead-lettered entries back on their original stream: for
// each, one MULTI/EXEC that XADDs the original fields (a new entry id, so
// every group that had not acknowledged the old entry reads it afresh) and
// XDELs it from the DLQ, so the entry is in exactly one of the two places
// at any time. With all it replays every entry present when it starts (entries
// dead-lettered again during the replay are left for a later run); otherwise
// exactly the given DLQ ids, and an unknown id is an error.
//
// With partitions an entry goes back to its partition's stream, in the
// same slot as its partition's DLQ (one MULTI/EXEC on a cluster too).
func DLQReplay(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool) (DLQResult, error) {
	var res DLQResult
	err := forEachPartDLQEntry(ctx, rdb, keys, stream, ids, all, func(dlqKey string, p int, e pipeline.DLQEntry) error {
		if e.Data == nil {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %v", e.ID, e.DataErr))
			return nil
		}
		target := e.Stream
		if target == "" {
			target = stream // written by an older runner: the DLQ's own stream
		}
		values := make([]any, 0, 2*len(e.Data))
		for _, k := range slices.Sorted(maps.Keys(e.Data)) {
			values = append(values, k, e.Data[k])
		}
		tx := adminPipeline(rdb, keys)
		dest := keys.PartStream(p, target)
		tx.XAdd(ctx, &redis.XAddArgs{Stream: dest, Values: values})
		del := tx.XDel(ctx, dlqKey, e.ID)
		if _, err := tx.Exec(ctx); err != nil {
			return fmt.Errorf("replay %s to %s: %w", e.ID, dest, err)
		}
		if del.Val() == 1 {
			res.Done++
		}
		return nil
	})
	return res, err
}

// DLQPurge deletes dead-lettered entries: the given DLQ ids (an unknown id is
// an error, and nothing is deleted), or with all every entry.
func DLQPurge(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool) (DLQResult, error) {
	parts := dlqParts(keys, stream)
	if all {
		var res DLQResult
		for _, part := range parts {
			tx := adminPipeline(rdb, keys)
			n := tx.XLen(ctx, part.key)
			tx.Del(ctx, part.key)
			if _, err := tx.Exec(ctx); err != nil {
				return res, fmt.Errorf("purge %s: %w", part.key, err)
			}
			res.Done += int(n.Val())
		}
		return res, nil
	}
	if len(ids) == 0 {
		return DLQResult{}, errors.New("purge: name the entries (ids) or ask for all")
	}
	byKey := map[string][]string{}
	var order []string
	for _, id := range ids {
		key, raw, err := locateDLQEntry(ctx, rdb, keys, parts, id)
		if err != nil {
			return DLQResult{}, err
		}
		if _, ok := byKey[key]; !ok {
			order = append(order, key)
		}
		byKey[key] = append(byKey[key], raw)
	}
	var res DLQResult
	for _, key := range order {
		n, err := rdb.XDel(ctx, key, byKey[key]...).Result()
		if err != nil {
			return res, fmt.Errorf("XDEL %s: %w", key, err)
		}
		res.Done += int(n)
	}
	return res, nil
}

// locateDLQEntry finds the DLQ key holding an operator's DLQ id (in the
// partition it names, or in the one partition that has it) and its entry
// id there.
func locateDLQEntry(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, parts []dlqPart, id string) (key, raw string, err error) {
	raw, p, err := splitID(keys, id)
	if err != nil {
		return "", "", err
	}
	var where []string
	for _, part := range partsOf(parts, p) {
		msgs, err := rdb.XRange(ctx, part.key, raw, raw).Result()
		if err != nil {
			return "", "", fmt.Errorf("XRANGE %s %s: %w", part.key, raw, err)
		}
		if len(msgs) == 1 {
			key = part.key
			where = append(where, qualifyID(keys, raw, part.partition))
		}
	}
	switch len(where) {
	case 0:
		keyList := make([]string, 0, len(parts))
		for _, part := range partsOf(parts, p) {
			keyList = append(keyList, part.key)
		}
		return "", "", fmt.Errorf("%w: %s in %s", ErrDLQEntryNotFound, id, strings.Join(keyList, ", "))
	case 1:
		return key, raw, nil
	}
	return "", "", fmt.Errorf("%w: %s is in several partitions' DLQs (%s); name one", ErrDLQEntryAmbiguous, id, strings.Join(where, ", "))
}

// forEachPartDLQEntry is forEachDLQEntry over the DLQ of every partition
// of a stream (ids located in their partitions), with each entry's DLQ key
// and partition.
func forEachPartDLQEntry(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool, fn func(dlqKey string, p int, e pipeline.DLQEntry) error) error {
	parts := dlqParts(keys, stream)
	if all {
		for _, part := range parts {
			if err := forEachDLQEntry(ctx, rdb, part.key, nil, true, func(e pipeline.DLQEntry) error {
				return fn(part.key, part.partition, e)
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ids) == 0 {
		return errors.New("name the entries (ids) or ask for all")
	}
	type located struct {
		part dlqPart
		raw  string
	}
	var found []located
	for _, id := range ids {
		key, raw, err := locateDLQEntry(ctx, rdb, keys, parts, id)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(parts, func(d dlqPart) bool { return d.key == key })
		found = append(found, located{parts[i], raw})
	}
	for _, l := range found {
		if err := forEachDLQEntry(ctx, rdb, l.part.key, []string{l.raw}, false, func(e pipeline.DLQEntry) error {
			return fn(l.part.key, l.part.partition, e)
		}); err != nil {
			return err
		}
	}
	return nil
}

// forEachDLQEntry calls fn for the named entries (all of them must exist) or,
// with all, for every entry up to the newest present at the start, in pages,
// so a large DLQ is never read into memory at once.
func forEachDLQEntry(ctx context.Context, rdb redis.UniversalClient, dlqKey string, ids []string, all bool, fn func(pipeline.DLQEntry) error) error {
	if !all {
		if len(ids) == 0 {
			return errors.New("name the entries (ids) or ask for all")
		}
		entries := make([]pipeline.DLQEntry, 0, len(ids))
		for _, id := range ids {
			if _, err := pipeline.ParseStreamID(id); err != nil {
				return err
			}
			msgs, err := rdb.XRange(ctx, dlqKey, id, id).Result()
			if err != nil {
				return fmt.Errorf("XRANGE %s %s: %w", dlqKey, id, err)
			}
			if len(msgs) == 0 {
				return fmt.Errorf("%w: %s in %s", ErrDLQEntryNotFound, id, dlqKey)
			}
			entries = append(entries, pipeline.DecodeDLQEntry(msgs[0]))
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}

	newest, err := rdb.XRevRangeN(ctx, dlqKey, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("XREVRANGE %s: %w", dlqKey, err)
	}
	if len(newest) == 0 {
		return nil
	}
	last := newest[0].ID
	const pageSize = 100
	start := "-"
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := rdb.XRangeN(ctx, dlqKey, start, last, pageSize).Result()
		if err != nil {
			return fmt.Errorf("XRANGE %s: %w", dlqKey, err)
		}
		for _, m := range msgs {
			if err := fn(pipeline.DecodeDLQEntry(m)); err != nil {
				return err
			}
		}
		if len(msgs) < pageSize {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// adminPipeline is MULTI/EXEC on a single Redis and on a cluster whose key
// prefix carries a hash tag (the DLQ and its stream in one slot). Without a
// tag they may hash apart and a cluster cannot run the transaction, so the
// commands are pipelined: XADD before XDEL, so a failure in between leaves a
// duplicate, which idempotent stages absorb, never a lost entry.
func adminPipeline(rdb redis.UniversalClient, keys pipeline.Keys) redis.Pipeliner {
	if _, cluster := rdb.(*redis.ClusterClient); cluster && !keys.OneSlot() {
		return rdb.Pipeline()
	}
	return rdb.TxPipeline()
}
