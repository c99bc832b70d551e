package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// HeartbeatReport is what a consumer's heartbeat key says, for operators
// (the console's groups page). Takeover decisions are consumerGone's.
type HeartbeatReport struct {
	// State is alive (renewed within three intervals), expired (not
	// renewed since), stopped (left with entries pending) or none (no key:
	// a consumer from before heartbeats, or one that left cleanly).
	State string `json:"state"`
	// Age is how long ago the key was last renewed (alive and expired).
	Age time.Duration `json:"age_ns"`
}

// ConsumerHeartbeats reads the heartbeat of each consumer of a stage's
// group (the group is named after the stage).
func ConsumerHeartbeats(ctx context.Context, rdb redis.UniversalClient, keys Keys, group string, consumers []string) (map[string]HeartbeatReport, error) {
	out := make(map[string]HeartbeatReport, len(consumers))
	if len(consumers) == 0 {
		return out, nil
	}
	gets := make([]*redis.StringCmd, len(consumers))
	ttls := make([]*redis.DurationCmd, len(consumers))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range consumers {
			key := keys.heartbeatKey(group, c)
			gets[i], ttls[i] = p.Get(ctx, key), p.PTTL(ctx, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read heartbeats of group %s: %w", group, err)
	}
	for i, c := range consumers {
		state, gerr := gets[i].Result()
		switch {
		case errors.Is(gerr, redis.Nil):
			out[c] = HeartbeatReport{State: "none"}
			continue
		case state == heartbeatStopped:
			out[c] = HeartbeatReport{State: "stopped"}
			continue
		}
		var ms int64
		if _, serr := fmt.Sscanf(state, heartbeatAlive+" %d", &ms); serr != nil || ms <= 0 || ttls[i].Val() < 0 {
			out[c] = HeartbeatReport{State: "none"}
			continue
		}
		iv := time.Duration(ms) * time.Millisecond
		hb := HeartbeatReport{State: "alive", Age: max(heartbeatKeep(iv)-ttls[i].Val(), 0)}
		if hb.Age > heartbeatLive(iv) {
			hb.State = "expired"
		}
		out[c] = hb
	}
	return out, nil
}

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
func PendingEntries(ctx context.Context, rdb redis.UniversalClient, keys Keys, stream, group string, n int64) ([]PendingEntry, error) {
	key := keys.Stream(stream)
	ext, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: group, Start: "-", End: "+", Count: n}).Result()
	if isNoSuchKey(err) || isNoGroup(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("XPENDING %s %s: %w", key, group, err)
	}
	out := make([]PendingEntry, 0, len(ext))
	for _, e := range ext {
		pe := PendingEntry{ID: e.ID, Consumer: e.Consumer, Idle: e.Idle, Deliveries: e.RetryCount}
		if id, err := ParseStreamID(e.ID); err == nil {
			pe.EnteredAt = id.Time()
		}
		out = append(out, pe)
	}
	return out, nil
}
