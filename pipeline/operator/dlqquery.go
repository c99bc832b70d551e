package operator

// Searching dead-letter queues: by either id an operator meets (the DLQ
// entry's own, or the original entry's id that the "entry dead-lettered" log
// line carries), and by stage, error class, post id and time.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/redis/go-redis/v9"
)

// dlqScanPage is how many DLQ entries one XRANGE reads while searching.
const dlqScanPage = 500

// DLQFind returns the DLQ entries that id names in the DLQs of streams: the
// entry whose DLQ id it is, or else every entry dead-lettered from the
// original entry with that id (several groups reading one stream, persist
// and enrich, may each dead-letter the same entry). An original entry is
// dead-lettered after it was added, so only DLQ ids from id on are read.
func DLQFind(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, streams []string, id string) ([]pipeline.DLQEntry, error) {
	raw, p, err := splitID(keys, id)
	if err != nil {
		return nil, err
	}
	var byDLQID, byEntryID []pipeline.DLQEntry
	for _, stream := range streams {
		for _, part := range partsOf(dlqParts(keys, stream), p) {
			found, foundEntry, err := findIn(ctx, rdb, keys, part, stream, raw)
			if err != nil {
				return nil, err
			}
			byDLQID = append(byDLQID, found...)
			byEntryID = append(byEntryID, foundEntry...)
		}
	}
	switch {
	case len(byDLQID) > 1:
		var where []string
		for _, e := range byDLQID {
			where = append(where, e.ID+" of "+e.Stream)
		}
		return nil, fmt.Errorf("%w: %s is in the DLQs of %s; name the stream", ErrDLQEntryAmbiguous, id, strings.Join(where, ", "))
	case len(byDLQID) == 1:
		return byDLQID, nil
	case len(byEntryID) > 0:
		return byEntryID, nil
	}
	return nil, fmt.Errorf("%w: no entry with DLQ id or original entry id %s in the DLQ of %s",
		ErrDLQEntryNotFound, id, strings.Join(streams, ", "))
}

// findIn scans one DLQ key from id on: the entry with that DLQ id, and the
// entries whose original entry id is id (a dead-lettered entry is added
// after the original, so its DLQ id is not below it).
func findIn(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, part dlqPart, stream, id string) (byDLQID, byEntryID []pipeline.DLQEntry, err error) {
	key := part.key
	{
		start := id
		for {
			msgs, err := rdb.XRangeN(ctx, key, start, "+", dlqScanPage).Result()
			if err != nil {
				return nil, nil, fmt.Errorf("XRANGE %s %s +: %w", key, start, err)
			}
			for _, m := range msgs {
				e := pipeline.DecodeDLQEntry(m)
				if e.Stream == "" {
					e.Stream = stream
				}
				switch id {
				case e.ID:
					e.ID = qualifyID(keys, e.ID, part.partition)
					byDLQID = append(byDLQID, e)
				case e.EntryID:
					e.ID = qualifyID(keys, e.ID, part.partition)
					byEntryID = append(byEntryID, e)
				}
			}
			if len(msgs) < dlqScanPage {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
	}
	return byDLQID, byEntryID, nil
}

// DLQFilter selects DLQ entries; a zero field matches everything.
type DLQFilter struct {
	Stage      string
	ErrorClass string
	PostID     string
	// Since and Until bound when the entry was dead-lettered (the time in
	// its DLQ id), Until exclusive.
	Since, Until time.Time
}

func (f DLQFilter) empty() bool { return f == DLQFilter{} }

// matches reports whether e passes the filter's field conditions; the time
// bounds are applied to the id range read.
func (f DLQFilter) matches(e pipeline.DLQEntry) bool {
	switch {
	case f.Stage != "" && e.Stage != f.Stage:
		return false
	case f.ErrorClass != "" && e.ErrorClass != f.ErrorClass:
		return false
	case f.PostID != "" && DLQPostID(e) != f.PostID:
		return false
	}
	return true
}

// DLQPostID is the post id of a dead-lettered entry: the post_id of the
// event in its data field, or the flat post_id field of a legacy entry; ""
// when neither can be read (the entry may be undecodable, which is often why
// it is in the DLQ).
func DLQPostID(e pipeline.DLQEntry) string {
	if raw, ok := e.Data[events.DataField]; ok {
		var ev struct {
			PostID string `json:"post_id"`
		}
		if json.Unmarshal([]byte(raw), &ev) == nil && ev.PostID != "" {
			return ev.PostID
		}
	}
	return e.Data["post_id"]
}

// DLQMatches is a page of a DLQ search.
type DLQMatches struct {
	DLQPage
	// Matched is the number of entries passing the filter, counted over the
	// whole DLQ, so that "showing 50 of 120 matching" is true.
	Matched int64
}

// DLQQuery returns up to limit entries (all when limit <= 0) of stream's
// DLQ that pass filter, oldest first, with the DLQ's length and the number
// of matching entries.
func DLQQuery(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, filter DLQFilter, limit int) (DLQMatches, error) {
	if !keys.Partitioned() {
		return queryKey(ctx, rdb, keys.DLQ(stream), filter, limit)
	}
	// Every partition's DLQ, merged by time: each gives up to limit
	// entries, the oldest limit of all are kept.
	page := DLQMatches{}
	for _, part := range dlqParts(keys, stream) {
		one, err := queryKey(ctx, rdb, part.key, filter, limit)
		if err != nil {
			return page, err
		}
		qualify(keys, one.Entries, part.partition)
		page.Total += one.Total
		page.Matched += one.Matched
		page.Entries = append(page.Entries, one.Entries...)
	}
	sortByDLQTime(page.Entries)
	if limit > 0 && len(page.Entries) > limit {
		page.Entries = page.Entries[:limit]
	}
	return page, nil
}

// queryKey is DLQQuery on one DLQ key.
func queryKey(ctx context.Context, rdb redis.UniversalClient, key string, filter DLQFilter, limit int) (DLQMatches, error) {
	page := DLQMatches{DLQPage: DLQPage{Key: key}}
	total, err := rdb.XLen(ctx, page.Key).Result()
	if err != nil {
		return page, fmt.Errorf("XLEN %s: %w", page.Key, err)
	}
	page.Total = total
	start, end := "-", "+"
	if !filter.Since.IsZero() {
		start = strconv.FormatInt(max(filter.Since.UnixMilli(), 0), 10)
	}
	if !filter.Until.IsZero() {
		end = "(" + strconv.FormatInt(max(filter.Until.UnixMilli(), 0), 10)
	}
	for {
		msgs, err := rdb.XRangeN(ctx, page.Key, start, end, dlqScanPage).Result()
		if err != nil {
			return page, fmt.Errorf("XRANGE %s: %w", page.Key, err)
		}
		for _, m := range msgs {
			e := pipeline.DecodeDLQEntry(m)
			if !filter.matches(e) {
				continue
			}
			page.Matched++
			if limit <= 0 || len(page.Entries) < limit {
				page.Entries = append(page.Entries, e)
			}
		}
		if len(msgs) < dlqScanPage || (filter.empty() && limit > 0 && len(page.Entries) >= limit) {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	if filter.empty() {
		page.Matched = page.Total
	}
	return page, nil
}
