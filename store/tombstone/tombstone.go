// Package tombstone remembers deleted posts for a while, so that a write
// still in flight when the deletion arrived (a posts.tagged entry not yet
// persisted, a posts.enriched entry not yet indexed) does not bring the post
// back. A tombstone is one Redis key per post, <prefix>cleanup:tombstone:<post_id>,
// with a TTL: longer than an entry can plausibly stay in flight (retries,
// DLQ replay), short enough that a post re-published much later is indexed.
//
// Writers (persist, index) use the "write, then check" order: they look the
// batch up before writing (to skip work) and again after (to undo a write
// that raced the deletion). The cleanup consumer sets the tombstone before it
// deletes. Either the writer's second lookup sees the tombstone, or the write
// committed before the tombstone was set and so before the deletion, which
// removes it: in every interleaving the post ends in no store.
package tombstone

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
)

// KeyInfix is the part of a tombstone's key between the prefix and the post id.
const KeyInfix = "cleanup:tombstone:"

// Set is the tombstones under one key prefix. The zero value (nil client)
// holds nothing: Dead returns no ids, so a stage built without Redis (unit
// tests) behaves as before.
type Set struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns the tombstones of rdb under prefix (the configured
// redis.key_prefix).
func New(rdb redis.UniversalClient, prefix string) *Set { return &Set{rdb: rdb, prefix: prefix} }

// Key is the Redis key of a post's tombstone.
func (s *Set) Key(postID string) string { return s.prefix + KeyInfix + postID }

// Add remembers ids as deleted for ttl (a repeated deletion extends it).
func (s *Set) Add(ctx context.Context, ids []string, reason string, ttl time.Duration) error {
	if s == nil || s.rdb == nil || len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, s.Key(id), reason, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tombstone: remember %d deleted posts: %w", len(ids), err)
	}
	return nil
}

// Dead returns which of ids are tombstoned, in one round trip: one MGET,
// or, on a Redis Cluster whose prefix has no hash tag (the keys then hash to
// different slots, and MGET across slots fails with CROSSSLOT), one GET per
// key pipelined, which the cluster client sends to each key's node.
func (s *Set) Dead(ctx context.Context, ids []string) (map[string]bool, error) {
	if s == nil || s.rdb == nil || len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.Key(id)
	}
	found, err := s.exist(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("tombstone: look up %d posts: %w", len(ids), err)
	}
	var dead map[string]bool
	for i, ok := range found {
		if ok {
			if dead == nil {
				dead = map[string]bool{}
			}
			dead[ids[i]] = true
		}
	}
	return dead, nil
}

// exist reports, for each key, whether it is set.
func (s *Set) exist(ctx context.Context, keys []string) ([]bool, error) {
	found := make([]bool, len(keys))
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster && !config.HashTagged(s.prefix) {
		cmds := make([]*redis.StringCmd, len(keys))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, c := range cmds {
			switch err := c.Err(); {
			case err == nil:
				found[i] = true
			case !errors.Is(err, redis.Nil):
				return nil, err
			}
		}
		return found, nil
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		found[i] = v != nil
	}
	return found, nil
}
