package tombstone_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/tombstone"
)

// TestDeadOnSingleRedisAndCluster: the lookups find exactly the tombstoned
// posts on a single Redis and on a real Redis Cluster, with a hash-tagged
// prefix (every key in one slot: one MGET) and without one (the keys spread
// over the masters, where an MGET fails with CROSSSLOT).
func TestDeadOnSingleRedisAndCluster(t *testing.T) {
	t.Parallel()
	single, singlePrefix := testenv.Redis(t)
	cluster := testenv.RedisCluster(t).Client(t)
	for _, tc := range []struct {
		name      string
		rdb       redis.UniversalClient
		prefix    string
		manySlots bool // the keys of the lookup hash to several slots
	}{
		{"single redis", single, singlePrefix, false},
		{"cluster, tagged prefix", cluster, "{assistant}:", false},
		{"cluster, untagged prefix", cluster, "assistant:", true},
		{"cluster, no prefix", cluster, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			set := tombstone.New(tc.rdb, tc.prefix)
			var ids []string
			for i := range 40 {
				ids = append(ids, fmt.Sprintf("post-%s-%d", t.Name(), i))
			}
			deleted := ids[:25:25]
			if err := set.Add(ctx, deleted, "deleted", time.Minute); err != nil {
				t.Fatal(err)
			}
			if cc, ok := tc.rdb.(*redis.ClusterClient); ok {
				slots := map[int64]bool{}
				for _, id := range ids {
					slot, err := cc.ClusterKeySlot(ctx, set.Key(id)).Result()
					if err != nil {
						t.Fatal(err)
					}
					slots[slot] = true
				}
				if got := len(slots) > 1; got != tc.manySlots {
					t.Fatalf("the keys hash to %d slots; the case needs several: %v", len(slots), tc.manySlots)
				}
			}
			dead, err := set.Dead(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(dead))
			want := slices.Sorted(slices.Values(deleted))
			if !slices.Equal(got, want) {
				t.Fatalf("Dead found %d posts %v, want the %d tombstoned %v", len(got), got, len(want), want)
			}
			none, err := set.Dead(ctx, ids[25:])
			if err != nil {
				t.Fatal(err)
			}
			if len(none) != 0 {
				t.Fatalf("Dead of posts never deleted: %v", none)
			}
		})
	}
}
