package pipeline

// Operator tools behind `assistant streams` and `assistant dlq`: read-only
// reports on streams and groups, and the dead-letter queue's list, show,
// replay and purge. They take a Redis client and the key namer only, so they
// work from any host that can reach Redis, without a running daemon.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DLQ entry fields, as the runner writes them (spec section 3, "DLQ entries").
const (
	DLQFieldData        = "data"
	DLQFieldStream      = "stream"
	DLQFieldGroup       = "group"
	DLQFieldEntryID     = "entry_id"
	DLQFieldStage       = "stage"
	DLQFieldError       = "error"
	DLQFieldErrorClass  = "error_class"
	DLQFieldAttempts    = "attempts"
	DLQFieldFirstSeenAt = "first_seen_at"
	DLQFieldFailedAt    = "failed_at"
	DLQFieldTraceID     = "trace_id"
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
func StreamsReport(ctx context.Context, rdb redis.UniversalClient, keys Keys, streams []string) ([]StreamReport, error) {
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

func streamReport(ctx context.Context, rdb redis.UniversalClient, keys Keys, stream string, now time.Time) (StreamReport, error) {
	rep := StreamReport{Stream: stream, Key: keys.Stream(stream), DLQKey: keys.DLQ(stream)}

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
			if ms, ok := entryIDMillis(newest[0].ID); ok {
				rep.DLQNewestTime = time.UnixMilli(ms)
			}
		}
	}

	info, err := rdb.XInfoStream(ctx, rep.Key).Result()
	if isNoSuchKey(err) {
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
	if ms, ok := entryIDMillis(sum.Lower); ok {
		gr.OldestPendingAge = max(now.Sub(time.UnixMilli(ms)), 0)
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

// DLQEntry is one dead-lettered entry, decoded from the fields the runner
// wrote.
type DLQEntry struct {
	// ID is the entry's id in the DLQ stream (what `dlq show/replay/purge
	// --id` take), not the original entry's id (EntryID).
	ID         string
	Stream     string // unprefixed original stream
	Group      string
	EntryID    string // id the entry had in its original stream
	Stage      string
	Error      string
	ErrorClass string // permanent | exhausted
	Attempts   int
	// FirstSeenAt and FailedAt are zero when the field is absent or not
	// RFC 3339; the raw strings stay in Fields.
	FirstSeenAt time.Time
	FailedAt    time.Time
	TraceID     string
	// Data holds the original entry's fields, as decoded from the data
	// field's JSON object; nil when that field is not a JSON object
	// (DataErr says why). Replay writes exactly these fields back.
	Data    map[string]string
	DataErr error
	// Fields is every field of the DLQ entry as stored.
	Fields map[string]string
}

// DLQPage is a slice of one DLQ, oldest first.
type DLQPage struct {
	Key     string
	Total   int64 // entries in the DLQ
	Entries []DLQEntry
}

// DLQList returns up to limit entries of stream's DLQ, oldest first (all of
// them when limit <= 0), and the DLQ's total length.
func DLQList(ctx context.Context, rdb redis.UniversalClient, keys Keys, stream string, limit int) (DLQPage, error) {
	page := DLQPage{Key: keys.DLQ(stream)}
	total, err := rdb.XLen(ctx, page.Key).Result()
	if err != nil {
		return page, fmt.Errorf("XLEN %s: %w", page.Key, err)
	}
	page.Total = total
	var msgs []redis.XMessage
	if limit > 0 {
		msgs, err = rdb.XRangeN(ctx, page.Key, "-", "+", int64(limit)).Result()
	} else {
		msgs, err = rdb.XRange(ctx, page.Key, "-", "+").Result()
	}
	if err != nil {
		return page, fmt.Errorf("XRANGE %s: %w", page.Key, err)
	}
	for _, m := range msgs {
		page.Entries = append(page.Entries, decodeDLQEntry(m))
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
func DLQGet(ctx context.Context, rdb redis.UniversalClient, keys Keys, streams []string, id string) (DLQEntry, error) {
	if err := checkEntryID(id); err != nil {
		return DLQEntry{}, err
	}
	var found []DLQEntry
	var where []string
	for _, stream := range streams {
		key := keys.DLQ(stream)
		msgs, err := rdb.XRange(ctx, key, id, id).Result()
		if err != nil {
			return DLQEntry{}, fmt.Errorf("XRANGE %s %s: %w", key, id, err)
		}
		if len(msgs) == 1 {
			e := decodeDLQEntry(msgs[0])
			if e.Stream == "" {
				e.Stream = stream
			}
			found = append(found, e)
			where = append(where, stream)
		}
	}
	switch len(found) {
	case 0:
		return DLQEntry{}, fmt.Errorf("%w: %s in the DLQ of %s", ErrDLQEntryNotFound, id, strings.Join(streams, ", "))
	case 1:
		return found[0], nil
	default:
		return DLQEntry{}, fmt.Errorf("%w: %s is in the DLQs of %s; name the stream", ErrDLQEntryAmbiguous, id, strings.Join(where, ", "))
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
func DLQReplay(ctx context.Context, rdb redis.UniversalClient, keys Keys, stream string, ids []string, all bool) (DLQResult, error) {
	dlqKey := keys.DLQ(stream)
	var res DLQResult
	err := forEachDLQEntry(ctx, rdb, dlqKey, ids, all, func(e DLQEntry) error {
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
		tx := adminPipeline(rdb)
		tx.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(target), Values: values})
		del := tx.XDel(ctx, dlqKey, e.ID)
		if _, err := tx.Exec(ctx); err != nil {
			return fmt.Errorf("replay %s to %s: %w", e.ID, keys.Stream(target), err)
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
func DLQPurge(ctx context.Context, rdb redis.UniversalClient, keys Keys, stream string, ids []string, all bool) (DLQResult, error) {
	dlqKey := keys.DLQ(stream)
	if all {
		tx := adminPipeline(rdb)
		n := tx.XLen(ctx, dlqKey)
		tx.Del(ctx, dlqKey)
		if _, err := tx.Exec(ctx); err != nil {
			return DLQResult{}, fmt.Errorf("purge %s: %w", dlqKey, err)
		}
		return DLQResult{Done: int(n.Val())}, nil
	}
	if len(ids) == 0 {
		return DLQResult{}, errors.New("purge: name the entries (ids) or ask for all")
	}
	for _, id := range ids {
		if err := checkEntryID(id); err != nil {
			return DLQResult{}, err
		}
		msgs, err := rdb.XRange(ctx, dlqKey, id, id).Result()
		if err != nil {
			return DLQResult{}, fmt.Errorf("XRANGE %s %s: %w", dlqKey, id, err)
		}
		if len(msgs) == 0 {
			return DLQResult{}, fmt.Errorf("%w: %s in %s", ErrDLQEntryNotFound, id, dlqKey)
		}
	}
	n, err := rdb.XDel(ctx, dlqKey, ids...).Result()
	if err != nil {
		return DLQResult{}, fmt.Errorf("XDEL %s: %w", dlqKey, err)
	}
	return DLQResult{Done: int(n)}, nil
}

// forEachDLQEntry calls fn for the named entries (all of them must exist) or,
// with all, for every entry up to the newest present at the start, in pages,
// so a large DLQ is never read into memory at once.
func forEachDLQEntry(ctx context.Context, rdb redis.UniversalClient, dlqKey string, ids []string, all bool, fn func(DLQEntry) error) error {
	if !all {
		if len(ids) == 0 {
			return errors.New("name the entries (ids) or ask for all")
		}
		entries := make([]DLQEntry, 0, len(ids))
		for _, id := range ids {
			if err := checkEntryID(id); err != nil {
				return err
			}
			msgs, err := rdb.XRange(ctx, dlqKey, id, id).Result()
			if err != nil {
				return fmt.Errorf("XRANGE %s %s: %w", dlqKey, id, err)
			}
			if len(msgs) == 0 {
				return fmt.Errorf("%w: %s in %s", ErrDLQEntryNotFound, id, dlqKey)
			}
			entries = append(entries, decodeDLQEntry(msgs[0]))
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
			if err := fn(decodeDLQEntry(m)); err != nil {
				return err
			}
		}
		if len(msgs) < pageSize {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// decodeDLQEntry reads the runner's fields; it never fails, so that even a
// malformed entry can be listed, shown and purged.
func decodeDLQEntry(m redis.XMessage) DLQEntry {
	fields := make(map[string]string, len(m.Values))
	for k, v := range m.Values {
		if s, ok := v.(string); ok {
			fields[k] = s
		} else {
			fields[k] = fmt.Sprint(v)
		}
	}
	e := DLQEntry{
		ID:         m.ID,
		Stream:     fields[DLQFieldStream],
		Group:      fields[DLQFieldGroup],
		EntryID:    fields[DLQFieldEntryID],
		Stage:      fields[DLQFieldStage],
		Error:      fields[DLQFieldError],
		ErrorClass: fields[DLQFieldErrorClass],
		TraceID:    fields[DLQFieldTraceID],
		Fields:     fields,
	}
	e.Attempts, _ = strconv.Atoi(fields[DLQFieldAttempts])
	e.FirstSeenAt, _ = time.Parse(time.RFC3339Nano, fields[DLQFieldFirstSeenAt])
	e.FailedAt, _ = time.Parse(time.RFC3339Nano, fields[DLQFieldFailedAt])
	e.Data, e.DataErr = decodeDLQData(fields)
	return e
}

// decodeDLQData parses the data field: a JSON object of the original entry's
// fields. String values are taken as they are; any other JSON value keeps its
// JSON text, which is how it would have been stored in a stream field.
func decodeDLQData(fields map[string]string) (map[string]string, error) {
	raw, ok := fields[DLQFieldData]
	if !ok {
		return nil, errors.New("no data field")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		return nil, fmt.Errorf("data field is not a JSON object: %w", err)
	}
	if len(obj) == 0 {
		return nil, errors.New("data field holds no original fields")
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}

// adminPipeline is MULTI/EXEC on a single Redis. A cluster cannot run a
// transaction across slots (the DLQ and its stream may hash apart), so there
// the commands are pipelined: XADD before XDEL, so a failure in between
// leaves a duplicate, which idempotent stages absorb, never a lost entry.
func adminPipeline(rdb redis.UniversalClient) redis.Pipeliner {
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		return rdb.Pipeline()
	}
	return rdb.TxPipeline()
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// checkEntryID rejects anything that is not a full stream id (ms-seq), so
// a typo cannot turn into a range.
func checkEntryID(id string) error {
	ms, seq, ok := strings.Cut(id, "-")
	if ok {
		_, err1 := strconv.ParseUint(ms, 10, 64)
		_, err2 := strconv.ParseUint(seq, 10, 64)
		if err1 == nil && err2 == nil {
			return nil
		}
	}
	return fmt.Errorf("%q is not a stream entry id (want <ms>-<seq>, e.g. 1732880000000-0)", id)
}

// entryIDMillis is the millisecond timestamp part of an entry id.
func entryIDMillis(id string) (int64, bool) {
	ms, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	return n, err == nil
}
