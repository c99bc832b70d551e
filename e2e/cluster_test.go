package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// clusterPrefix is the hash-tagged key prefix of the cluster tests, the one
// docs/operations.md recommends: every key of the deployment in one slot.
const clusterPrefix = "{assistant}:"

// NewClusterStack is a stack on a real Redis Cluster private to the test
// (testenv.RedisCluster) and a PostgreSQL schema of its own: its processes
// run with redis.cluster set, the cluster as redis.url and a hash-tagged
// key prefix. The cluster goes away with the test, keys and all.
func NewClusterStack(t testing.TB, cluster *testenv.Cluster) *Stack {
	t.Helper()
	cfg := config.Default()
	cfg.Redis.KeyPrefix = clusterPrefix
	return &Stack{
		t:           t,
		Redis:       cluster.Client(t),
		Prefix:      clusterPrefix,
		DatabaseURL: testenv.Postgres(t),
		Streams:     cfg.Streams,
		Keys:        pipeline.NewKeys(&cfg),
		Stages:      DefaultStages(),
		Env: map[string]string{
			"REDIS_URL":                  cluster.URL(),
			"ASSISTANT_REDIS_CLUSTER":    "true",
			"ASSISTANT_REDIS_KEY_PREFIX": clusterPrefix,
		},
		dir:    t.TempDir(),
		logDir: t.TempDir(),
	}
}

// TestClusterReplicaKilledMidRun is issue 15's Redis Cluster test: two
// replicas of the real daemon (`assistant run --stages=tag,persist`) share
// the work of 2,000 posts on a real three-master cluster; one is killed
// with SIGKILL while it holds entries and after others are stored, and the
// survivor claims what it held (runner.claim_min_idle, 2s here) and
// finishes. Then every post is stored once, posts.tagged holds exactly one
// output per post, the DLQs are empty and no group has anything pending.
//
// Exactly one output per post, not merely at least one, is what the design
// guarantees on a cluster with the hash-tagged prefix: an entry's outputs
// and its XACK are one MULTI/EXEC in one slot, so an entry the killed
// replica had acknowledged has its output written once, and an entry it
// held has none until the survivor, claiming it, writes and acknowledges it
// in one transaction. A second output could only come from claiming an
// entry its live holder is still working on, which the holder's refresh of
// its entries' idle time (claim.go, touchOwn) prevents.
func TestClusterReplicaKilledMidRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	stack := NewClusterStack(t, testenv.RedisCluster(t))
	t.Logf("cluster of three masters up in %s", time.Since(start).Round(time.Millisecond))
	stages := []string{"tag", "persist"}
	stack.Stages = stages
	// Keep every entry of every stream: the test reads posts.tagged whole
	// after the run, which the trimming of acknowledged entries would cut.
	stack.Env["ASSISTANT_RUNNER_TRIM_INTERVAL"] = "1h"
	// The deployment is tag and persist only: the other stages' groups
	// would wait for a reader that never comes.
	for _, stage := range DefaultStages() {
		if stage != "tag" && stage != "persist" {
			stack.Env["ASSISTANT_STAGES_"+strings.ToUpper(stage)+"_ENABLED"] = "false"
		}
	}

	// Enough posts that the run outlasts the ingest: the tag stage takes
	// whole batches and finished 2,000 before the first look at times.
	input := variants(testenv.SamplePosts(t, 0), 8)
	n := len(input)
	file, err := WriteJSONL(t.TempDir(), "posts.jsonl", input)
	if err != nil {
		t.Fatal(err)
	}
	victim := stack.Start(ctx, Options{Stages: stages})
	survivor := stack.Start(ctx, Options{Stages: stages})
	stack.Ingest(ctx, file)

	// Kill the victim once some posts are stored and it holds entries of
	// its own, which only a claim can bring back.
	parsed, tagged := stack.Keys.Stream(stack.Streams.Parsed), stack.Keys.Stream(stack.Streams.Tagged)
	held := func() (map[string]int64, error) {
		out := map[string]int64{}
		for _, g := range []struct{ stage, key string }{{"tag", parsed}, {"persist", tagged}} {
			p, err := stack.Redis.XPending(ctx, g.key, g.stage).Result()
			if err != nil {
				return nil, fmt.Errorf("xpending %s %s: %w", g.key, g.stage, err)
			}
			for consumer, count := range p.Consumers {
				if consumerOf(consumer, victim.PID(), g.stage) {
					out[g.stage] += count
				}
			}
		}
		return out, nil
	}
	// The moment sought: posts already stored, and the victim holding
	// entries of both stages (a tag entry whose output is not yet
	// committed, a persist entry not yet acknowledged).
	var stored int
	var last map[string]int64
	reached := PollUntil(ctx, 30*time.Second, 2*time.Millisecond, func() bool {
		stored, err = stack.CountRows(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`)
		if err != nil || stored == 0 {
			return false
		}
		last, err = held()
		return err == nil && last["tag"] > 0 && last["persist"] > 0
	})
	if !reached {
		t.Fatalf("no moment with posts stored and tag and persist entries held by the victim (stored %d, held %v, err %v)", stored, last, err)
	}
	victimPID := victim.PID()
	victim.Kill()
	dead, err := held()
	if err != nil {
		t.Fatal(err)
	}
	stored, _ = stack.CountRows(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`)
	if stored >= n {
		t.Fatalf("the kill landed after every post was stored; the test proved nothing")
	}
	t.Logf("SIGKILL of replica pid %d with %d of %d posts stored; it held %d tag and %d persist entries",
		victimPID, stored, n, dead["tag"], dead["persist"])

	stack.WaitDrained(ctx, 45*time.Second)
	metrics, err := survivor.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claimedTag := metrics.Value("stage_claimed_total", "stage", "tag")
	claimedPersist := metrics.Value("stage_claimed_total", "stage", "persist")
	t.Logf("the survivor claimed %.0f tag and %.0f persist entries; drained %s after the start",
		claimedTag, claimedPersist, time.Since(start).Round(time.Millisecond))
	if claimedTag < float64(dead["tag"]) || claimedPersist < float64(dead["persist"]) {
		t.Errorf("the survivor claimed %.0f tag and %.0f persist entries, fewer than the %d and %d the victim held",
			claimedTag, claimedPersist, dead["tag"], dead["persist"])
	}

	// Every post stored, once in every table.
	stack.RequireOneRowPerPost(ctx, n)
	others, err := stack.CountRows(ctx, `SELECT count(*) FROM post_enrichment WHERE kind <> 'tags'`)
	if err != nil {
		t.Fatal(err)
	}
	if others != 0 {
		t.Errorf("%d post_enrichment rows of other kinds; tag and persist write only 'tags'", others)
	}

	// posts.tagged: one output per post, none twice.
	outputs, err := stack.Redis.XRange(ctx, tagged, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	perPost := map[string]int{}
	for _, m := range outputs {
		var ev events.PostTagged
		if err := events.Decode(m.Values, &ev); err != nil {
			t.Fatalf("posts.tagged entry %s: %v", m.ID, err)
		}
		perPost[ev.PostID]++
	}
	var twice []string
	for id, c := range perPost {
		if c > 1 {
			twice = append(twice, id+"×"+strconv.Itoa(c))
		}
	}
	if len(perPost) != n || len(outputs) != n {
		t.Errorf("posts.tagged: %d outputs for %d distinct posts, want %d of each; more than once: %s",
			len(outputs), len(perPost), n, strings.Join(first(twice, 10), ", "))
	}

	stack.RequireDLQsEmpty(ctx)
	for _, g := range []struct{ stage, key string }{{"tag", parsed}, {"persist", tagged}} {
		p, err := stack.Redis.XPending(ctx, g.key, g.stage).Result()
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != 0 {
			t.Errorf("group %s on %s: %d pending", g.stage, g.key, p.Count)
		}
	}
	survivor.Stop()
	t.Logf("%d posts: %d stored, %d outputs, in %s", n, n, len(outputs), time.Since(start).Round(time.Millisecond))
}

// consumerOf reports whether a consumer name is the given process's
// consumer of stage (the runner names them host-pid-stage-n).
func consumerOf(consumer string, pid int, stage string) bool {
	return strings.Contains(consumer, "-"+strconv.Itoa(pid)+"-"+stage+"-")
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
