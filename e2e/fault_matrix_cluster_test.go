package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestFaultMatrixClusterFailover is the fault matrix's Redis Cluster row: a
// real cluster of three masters with one replica each
// (testenv.RedisClusterWithReplicas, cluster-node-timeout 1 s), the
// daemon's keys all in the `{assistant}` hash slot. With half the posts
// published and some stored, the master holding that slot is killed
// (SIGKILL) and the test waits until its replica is promoted; the other
// half is published then. Every post must be stored exactly once (posts and
// tags rows one per post), nothing dead-lettered, the daemon never exits.
//
// Redis replication is asynchronous: writes the killed master acknowledged
// but had not yet sent to its replica are gone after the promotion (an
// XACK, an output, a consumer group's position). The daemon's delivery is
// at-least-once, so such a loss can show as a post tagged twice in
// posts.tagged; the test logs the count of such outputs and requires only
// the stored rows to be one per post (persist's upsert).
func TestFaultMatrixClusterFailover(t *testing.T) {
	t.Parallel()
	cluster := testenv.RedisClusterWithReplicas(t, 3, 1)
	stack := NewClusterStack(t, cluster)
	// Keep every entry: the test reads posts.tagged whole afterwards.
	stack.Env["ASSISTANT_RUNNER_TRIM_INTERVAL"] = "1h"
	for _, stage := range DefaultStages() {
		if stage != "tag" && stage != "persist" {
			stack.Env["ASSISTANT_STAGES_"+strings.ToUpper(stage)+"_ENABLED"] = "false"
		}
	}
	var failover testenv.Failover
	runFaultCase(t, faultCase{
		name:  "Redis Cluster master of the {assistant} slot killed (SIGKILL), its replica promoted",
		stack: stack,
		fault: func(ctx context.Context, t *testing.T) error {
			var err error
			failover, err = cluster.KillMasterOf(ctx, t, stack.Keys.Stream(stack.Streams.Parsed))
			if err == nil {
				t.Logf("slot %d: master %s killed, replica %s promoted %s after the kill",
					failover.Slot, failover.Killed, failover.Promoted, failover.Took)
			}
			return err
		},
		ingestAfterFault: true,
	})
	if t.Failed() {
		return
	}
	ctx := context.Background()
	stack.RequireOneRowPerPost(ctx, faultPosts)
	outputs, err := stack.Redis.XRange(ctx, stack.Keys.Stream(stack.Streams.Tagged), "-", "+").Result()
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
	parsed := stack.Redis.XLen(ctx, stack.Keys.Stream(stack.Streams.Parsed)).Val()
	t.Logf("fault matrix | cluster failover | slot %d | failover took %s | posts.parsed %d entries | posts.tagged %d outputs for %d distinct posts (%d extra)",
		failover.Slot, failover.Took, parsed, len(outputs), len(perPost), len(outputs)-len(perPost))
	if len(perPost) != faultPosts {
		t.Errorf("posts.tagged holds %d distinct posts, want %d", len(perPost), faultPosts)
	}
}
