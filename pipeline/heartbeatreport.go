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
