package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
)

// createGroup creates a consumer group reading the stream from its start,
// creating the stream if needed. An existing group is left as it is.
func createGroup(ctx context.Context, rdb redis.UniversalClient, key, group, start string) error {
	if start == "" {
		start = "0"
	}
	err := rdb.XGroupCreateMkStream(ctx, key, group, start).Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return err
	}
	return nil
}

// IsNoSuchKey reports XINFO's answer for a stream that does not exist (its
// reply has no error code of its own).
func IsNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// IsNoGroup reports an error caused by a missing stream or consumer group
// (Redis restarted without persistence, or the group was deleted).
func IsNoGroup(err error) bool {
	return redis.HasErrorPrefix(err, "NOGROUP")
}

// groupState is what the runner needs to know about one consumer group.
type groupState struct {
	name          string
	lastDelivered string
	pending       int64
	lag           int64
	oldestPending string // id of the oldest pending entry, "" when none
}

// groupStates reads every group of a stream: XINFO GROUPS, then the pending
// summary of each group that has pending entries.
func groupStates(ctx context.Context, rdb redis.UniversalClient, key string) ([]groupState, error) {
	groups, err := rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		if IsNoSuchKey(err) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]groupState, 0, len(groups))
	for _, g := range groups {
		st := groupState{name: g.Name, lastDelivered: g.LastDeliveredID, pending: g.Pending, lag: g.Lag}
		if g.Pending > 0 {
			sum, err := rdb.XPending(ctx, key, g.Name).Result()
			if err != nil {
				return nil, fmt.Errorf("pending summary of %s: %w", g.Name, err)
			}
			st.oldestPending = sum.Lower
		}
		out = append(out, st)
	}
	return out, nil
}

// trimFloor is the lowest entry id any group still needs: for each group the
// oldest pending entry, or the entry after its last-delivered id. Entries
// below it have been acknowledged by every group. ok is false when the stream
// has no group (nothing is known about who needs what: never trim).
func trimFloor(states []groupState) (StreamID, bool) {
	var floor StreamID
	found := false
	for _, st := range states {
		last, err := ParseStreamID(st.lastDelivered)
		if err != nil {
			return StreamID{}, false
		}
		need := last.Next()
		if st.oldestPending != "" {
			p, err := ParseStreamID(st.oldestPending)
			if err != nil {
				return StreamID{}, false
			}
			if p.Less(need) {
				need = p
			}
		}
		if !found || need.Less(floor) {
			floor, found = need, true
		}
	}
	return floor, found
}

// trimStream removes the entries every group has acknowledged, with an exact
// MINID below the oldest entry any group still needs (never a blind MAXLEN).
func trimStream(ctx context.Context, rdb redis.UniversalClient, key string) error {
	states, err := groupStates(ctx, rdb, key)
	if err != nil {
		return err
	}
	floor, ok := trimFloor(states)
	if !ok {
		return nil
	}
	return rdb.XTrimMinID(ctx, key, floor.String()).Err()
}

// trimUnread bounds a stream that none of our stages reads. If some group
// reads it after all (a downstream service, the old worker's tasks), the
// lossless MINID rule of trimStream applies; a stream no group reads keeps
// its maxEntries newest entries (exact MAXLEN: "at most"), or everything
// when maxEntries is 0. It returns how many entries were removed.
func trimUnread(ctx context.Context, rdb redis.UniversalClient, key string, maxEntries int64) (int64, error) {
	states, err := groupStates(ctx, rdb, key)
	if err != nil {
		return 0, err
	}
	if len(states) > 0 {
		floor, ok := trimFloor(states)
		if !ok {
			return 0, nil
		}
		return rdb.XTrimMinID(ctx, key, floor.String()).Result()
	}
	if maxEntries <= 0 {
		return 0, nil
	}
	return rdb.XTrimMaxLen(ctx, key, maxEntries).Result()
}

// pruneConsumers deletes consumers of a group that have no pending entries
// and have been idle longer than idleTimeout, except this process's own.
func pruneConsumers(ctx context.Context, rdb redis.UniversalClient, key, group string, idleTimeout time.Duration, own map[string]bool) (int, error) {
	consumers, err := rdb.XInfoConsumers(ctx, key, group).Result()
	if err != nil {
		if IsNoGroup(err) {
			return 0, nil
		}
		return 0, err
	}
	deleted := 0
	for _, c := range consumers {
		if own[c.Name] || c.Pending > 0 || c.Idle < idleTimeout {
			continue
		}
		// DELCONSUMER drops the consumer's pending entries too; re-check that
		// it has none in the same round trip is not possible, so rely on the
		// Pending == 0 read above: a consumer idle this long is not reading.
		if err := rdb.XGroupDelConsumer(ctx, key, group, c.Name).Err(); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// requireOneSlot refuses a Redis Cluster client whose key prefix has no
// hash tag. A commit (an entry's outputs, DLQ entry, dedup marks and XACK)
// is one MULTI/EXEC, and a stage reading several streams reads them in one
// XREADGROUP: a cluster runs either only when every key is in one slot.
// Without the tag the commit would have to be split by node, and a crash
// between two nodes' writes could acknowledge an entry whose output was
// never written, which at-least-once delivery does not allow.
func requireOneSlot(rdb redis.UniversalClient, keys Keys) error {
	if _, cluster := rdb.(*redis.ClusterClient); cluster && !keys.OneSlot() {
		return fmt.Errorf("runner: a Redis Cluster needs a hash-tagged redis.key_prefix such as \"{assistant}:\" (got %q): an entry's outputs and acknowledgement must be one MULTI/EXEC in one slot", keys.Prefix)
	}
	return nil
}

// OneSlot reports whether every key under the prefix hashes to one Redis
// Cluster slot (config.HashTagged).
func (k Keys) OneSlot() bool { return config.HashTagged(k.Prefix) }
