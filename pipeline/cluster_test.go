package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// TestRunnerOnRedisCluster: on a real three-master cluster, with the key
// prefix hash-tagged, the input stream, the output stream and the DLQ are in
// one slot (so the runner's outputs and acknowledgement are one MULTI/EXEC on
// one node), and every entry is delivered exactly once with nothing left
// pending. A kill -9 of a replica mid-run on the cluster is
// e2e/TestClusterReplicaKilledMidRun.
func TestRunnerOnRedisCluster(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisCluster(t).Client(t)
	cfg := testenv.Config(t, "{assistant}:", "")
	if !pipeline.NewKeys(cfg).OneSlot() {
		t.Fatal("hash-tagged prefix not seen as one slot")
	}
	if (pipeline.Keys{Prefix: "assistant:"}).OneSlot() || (pipeline.Keys{Prefix: "{}x:"}).OneSlot() {
		t.Fatal("untagged prefix seen as one slot")
	}
	slot := func(key string) int64 {
		v, err := rdb.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := pipeline.NewKeys(cfg)
	if a, b, c := slot(keys.Stream(cfg.Streams.Parsed)), slot(keys.Stream(cfg.Streams.Tagged)), slot(keys.DLQ(cfg.Streams.Parsed)); a != b || b != c {
		t.Fatalf("slots %d %d %d: the keys a commit writes are not in one slot", a, b, c)
	}
	stage := newTestStage()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(stage), Metrics: prometheus.NewRegistry(), Stages: []string{"test-pass"},
		Pools: map[string]config.Pool{"test-pass": {Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	const n = 300
	seedEvents(t, rdb, cfg.Redis.KeyPrefix+cfg.Streams.Parsed, n)
	key := cfg.Redis.KeyPrefix + cfg.Streams.Tagged
	testenv.WaitFor(t, "every output", 60*time.Second, func() bool {
		l, _ := rdb.XLen(context.Background(), key).Result()
		return l >= n
	})
	seen := outputCounts(t, rdb, key)
	if outputs := rdb.XLen(context.Background(), key).Val(); outputs != n || len(seen) != n {
		t.Fatalf("%d outputs for %d distinct entries, want %d each", outputs, len(seen), n)
	}
	testenv.WaitFor(t, "nothing pending", 10*time.Second, func() bool {
		p, err := rdb.XPending(context.Background(), cfg.Redis.KeyPrefix+cfg.Streams.Parsed, "test-pass").Result()
		return err == nil && p.Count == 0
	})
}

// TestRunnerRefusesUntaggedPrefixOnCluster: on a cluster client a key prefix
// without a hash tag would spread one commit's keys over several slots, where
// no MULTI/EXEC can hold them; NewRunner says so instead of running with a
// split commit. A single Redis takes any prefix.
func TestRunnerRefusesUntaggedPrefixOnCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.RedisCluster(t).Client(t)
	single, _ := testenv.Redis(t)
	for _, tc := range []struct {
		name    string
		rdb     redis.UniversalClient
		prefix  string
		refused bool
	}{
		{"cluster, untagged", cluster, "assistant:", true},
		{"cluster, empty tag", cluster, "{}assistant:", true},
		{"cluster, no prefix", cluster, "", true},
		{"cluster, tagged", cluster, "{assistant}:", false},
		{"single, untagged", single, "assistant:", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.Config(t, tc.prefix, "")
			_, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
				Config: cfg, Redis: tc.rdb, Registry: testRegistry(newTestStage()), Metrics: prometheus.NewRegistry(), Stages: []string{"test-pass"},
				Pools: map[string]config.Pool{"test-pass": {Enabled: true, Workers: 1, BatchSize: 10, MaxInflight: 10}},
			})
			switch {
			case tc.refused && (err == nil || !strings.Contains(err.Error(), "hash-tagged redis.key_prefix")):
				t.Fatalf("NewRunner: %v, want the hash-tag refusal", err)
			case !tc.refused && err != nil:
				t.Fatalf("NewRunner: %v", err)
			}
		})
	}
}
