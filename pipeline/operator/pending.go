package operator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/redis/go-redis/v9"
)

// PendingEntry is one entry delivered to a group and not acknowledged.
type PendingEntry struct {
	ID       string `json:"id"`
	Consumer string `json:"consumer"`
	// EnteredAt is when the entry entered the stream (from its id).
	EnteredAt time.Time `json:"entered_at"`
	// Idle is how long ago it was last delivered.
	Idle time.Duration `json:"idle_ns"`
	// Deliveries counts its deliveries: above 1, it is being retried.
	Deliveries int64 `json:"deliveries"`
}

// PendingEntries returns up to n of the oldest pending entries of group
// on stream (unprefixed); none when the stream or group does not exist.
func PendingEntries(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream, group string, n int64) ([]PendingEntry, error) {
	var out []PendingEntry
	for p, key := range keys.StreamKeys(stream) {
		ext, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: group, Start: "-", End: "+", Count: n}).Result()
		if pipeline.IsNoSuchKey(err) || pipeline.IsNoGroup(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("XPENDING %s %s: %w", key, group, err)
		}
		for _, e := range ext {
			pe := PendingEntry{ID: qualifyID(keys, e.ID, p), Consumer: e.Consumer, Idle: e.Idle, Deliveries: e.RetryCount}
			if id, err := pipeline.ParseStreamID(e.ID); err == nil {
				pe.EnteredAt = id.Time()
			}
			out = append(out, pe)
		}
	}
	if keys.Partitioned() {
		// The n oldest of all partitions.
		slices.SortStableFunc(out, func(a, b PendingEntry) int { return a.EnteredAt.Compare(b.EnteredAt) })
		if int64(len(out)) > n && n > 0 {
			out = out[:n]
		}
	}
	return out, nil
}
