package e2e

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestTagsDoNotDependOnOrder is issue 20.6: with the default settings a
// post's tags are a function of the post, not of which posts the daemon
// happened to see before it. The committed 500-post sample goes through two
// daemons of the default configuration (the local tagger, four tag
// workers), once in corpus order and once reversed and with its first
// hundred posts published a second time at the end (a redelivery the
// content-hash dedup answers; a tagger that counts what it sees would have
// seen them twice), and every post must end with the same tags in both runs.
//
// Before the change the default ai.local.channel_stats weighed each word by
// the share of the channel's earlier posts holding it, so the reversed run
// tagged posts differently. E2E_TAGORDER_CHANNEL_STATS=true runs both
// daemons with the statistics on, to see that failure.
func TestTagsDoNotDependOnOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	posts := testenv.SamplePosts(t, 0)
	dir := t.TempDir()
	forward, err := WriteJSONL(dir, "forward.jsonl", posts)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(posts)
	slices.Reverse(reversed)
	backward, err := WriteJSONL(dir, "backward.jsonl", reversed)
	if err != nil {
		t.Fatal(err)
	}
	again, err := WriteJSONL(dir, "again.jsonl", posts[:100])
	if err != nil {
		t.Fatal(err)
	}

	run := func(files ...string) Snapshot {
		t.Helper()
		stack := NewStack(t)
		if v := os.Getenv("E2E_TAGORDER_CHANNEL_STATS"); v != "" {
			stack.Env["ASSISTANT_AI_LOCAL_CHANNEL_STATS"] = v
		}
		daemon := stack.Start(ctx, Options{})
		for _, f := range files {
			stack.Ingest(ctx, f)
			stack.WaitDrained(ctx, 2*time.Minute)
		}
		daemon.Stop()
		snap, err := stack.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stack.RequireDLQsEmpty(ctx)
		return snap
	}
	a := run(forward)
	b := run(backward, again)
	if len(a.Tags) != len(posts) || len(b.Tags) != len(posts) {
		t.Fatalf("tags rows: %d and %d for %d posts", len(a.Tags), len(b.Tags), len(posts))
	}
	differ := 0
	for id, ra := range a.Tags {
		rb := b.Tags[id]
		if !slices.Equal(ra.Tags, rb.Tags) {
			if differ < 10 {
				t.Errorf("post %s: tags %q in corpus order, %q reversed", id, ra.Tags, rb.Tags)
			}
			differ++
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d posts tagged differently in the two orders", differ, len(posts))
	}
}
