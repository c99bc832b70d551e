package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// waitStoredTags polls until at least target tags rows are stored.
func waitStoredTags(ctx context.Context, t *testing.T, stack *Stack, target int) int {
	t.Helper()
	var (
		stored int
		err    error
	)
	if !PollUntil(ctx, time.Minute, 5*time.Millisecond, func() bool {
		stored, err = stack.CountRows(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`)
		return err == nil && stored >= target
	}) {
		t.Fatalf("stored tags rows did not reach %d (at %d, err %v)", target, stored, err)
	}
	return stored
}

// requireAllStored checks that every post of input has a posts row and a
// tags row, and nothing else is stored.
func requireAllStored(ctx context.Context, t *testing.T, stack *Stack, input []testenv.CorpusPost) Snapshot {
	t.Helper()
	snap, err := stack.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, p := range input {
		id := postIDOf(p)
		_, hasPost := snap.Posts[id]
		_, hasTags := snap.Tags[id]
		if !hasPost || !hasTags {
			missing++
			if missing <= 5 {
				t.Errorf("post %d/%d (%s): posts row %v, tags row %v", p.ChannelID, p.MessageID, id, hasPost, hasTags)
			}
		}
	}
	if missing > 0 || len(snap.Posts) != len(input) || len(snap.Tags) != len(input) {
		t.Fatalf("%d of %d posts not fully stored; %d posts rows, %d tags rows", missing, len(input), len(snap.Posts), len(snap.Tags))
	}
	return snap
}

// TestConsumerGroupsDestroyedMidRun proves that a consumer group deleted
// while entries flow (XGROUP DESTROY of the tag group on posts.parsed, then
// of the persist group on posts.tagged) is recreated by the running daemon,
// without a restart, and that every post still ends in the tables with no
// DLQ entry.
func TestConsumerGroupsDestroyedMidRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	input := variants(testenv.SamplePosts(t, 0), 6)
	n := len(input)
	file, err := WriteJSONL(t.TempDir(), "posts.jsonl", input)
	if err != nil {
		t.Fatal(err)
	}
	stack := NewStack(t)
	daemon := stack.Start(ctx, Options{})
	pid := daemon.PID()
	stack.Ingest(ctx, file)

	destroy := []struct {
		at     float64
		stream string
		group  string
	}{
		{0.2, stack.Streams.Parsed, "tag"},
		{0.5, stack.Streams.Tagged, "persist"},
		{0.7, stack.Streams.Parsed, "tag"},
	}
	for _, d := range destroy {
		stored := waitStoredTags(ctx, t, stack, int(d.at*float64(n)))
		state, err := stack.DrainState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := stack.Keys.Stream(d.stream)
		length := stack.Redis.XLen(ctx, key).Val()
		destroyed, err := stack.Redis.XGroupDestroy(ctx, key, d.group).Result()
		if err != nil || destroyed != 1 {
			t.Fatalf("XGROUP DESTROY %s %s: %d, %v", key, d.group, destroyed, err)
		}
		t.Logf("destroyed group %s on %s at %d of %d stored (%d entries in the stream; pipeline was %q)", d.group, d.stream, stored, n, length, orDrained(state))
		if state == "" {
			t.Fatalf("the pipeline was already drained when group %s was destroyed; the test proved nothing", d.group)
		}
	}
	stack.WaitDrained(ctx, 2*time.Minute)
	requireAllStored(ctx, t, stack, input)
	stack.RequireDLQsEmpty(ctx)
	if !daemon.Running() || daemon.PID() != pid {
		t.Fatal("the daemon restarted or exited")
	}
	if !PollUntil(ctx, 10*time.Second, 50*time.Millisecond, func() bool {
		status, _, err := daemon.Get(ctx, "/readyz")
		return err == nil && status == 200
	}) {
		t.Error("/readyz not 200 after the groups were recreated")
	}
	daemon.Stop()
}
