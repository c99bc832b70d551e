package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/legacytest"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestLegacyModeStoresEveryPostWhole runs the default stages beside the old
// worker (LEGACY_REDIS_CONSUMER_ENABLED=true, streams.legacy_publish_tagged
// on: the default of the drop-in mode) and feeds 300 corpus posts the way
// the old telethon ingest writes them to stream:posts:parsed — the flat
// form, the data form, naive str(datetime) times — with a third of them
// also on our posts.parsed in the new format, so that old and new copies of
// one post meet in the same batches.
//
// The tag stage publishes each post to posts.tagged and, for the old
// downstream tasks, an old-format copy to stream:posts:tagged, which
// persist also reads (for what the old worker still writes there). That
// copy carries no text, posted_at or content_hash; before the fix it came
// back to persist and, in the same batch as the full event, replaced it:
// up to 293 of 300 posts were stored without text and never expired.
// Every post must be stored whole, every tags row must name the model, and
// persist must report the copies it skipped.
func TestLegacyModeStoresEveryPostWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	stack.Env["LEGACY_REDIS_CONSUMER_ENABLED"] = "true"
	stack.Streams.LegacyConsumerEnabled = true
	daemon := stack.Start(ctx, Options{})

	posts := testenv.SamplePosts(t, 300)
	pipe := stack.Redis.Pipeline()
	oldKey := stack.Keys.Stream(stack.Streams.LegacyParsed)
	for i, p := range posts {
		posted := time.Date(2024, 12, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		fields := []legacytest.Field{
			{Key: "post_id", Value: postIDOf(p)},
			{Key: "user_id", Value: "user-1"},
			{Key: "channel_id", Value: channelIDOf(p)},
			{Key: "tg_message_id", Value: p.MessageID},
			{Key: "text", Value: p.Text},
			{Key: "posted_at", Value: legacytest.PyStr(posted)},
			{Key: "has_media", Value: false},
		}
		if i%2 == 0 {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: oldKey, Values: legacytest.Flat(fields...)})
		} else {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: oldKey, Values: legacytest.Data(fields...)})
		}
		if i%3 == 0 {
			ours, err := events.Encode(&events.PostParsed{
				Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("new-%d", i), OccurredAt: time.Now().UTC()},
				PostID:   postIDOf(p), ChannelID: channelIDOf(p), Text: p.Text, PostedAt: posted, UserID: "user-1",
			})
			if err != nil {
				t.Fatal(err)
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stack.Keys.Stream(stack.Streams.Parsed), Values: ours})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	stack.WaitDrained(ctx, 3*time.Minute)
	stack.RequireDLQsEmpty(ctx)

	snap, err := stack.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var broken []string
	for i, p := range posts {
		id := postIDOf(p)
		row, ok := snap.Posts[id]
		tags := snap.Tags[id]
		switch {
		case !ok:
			broken = append(broken, id+": not stored")
		case row.Text != p.Text || row.ContentHash != events.ContentHash(p.Text) || row.PostedAt.IsZero() || row.ExpiresAt.IsZero():
			broken = append(broken, fmt.Sprintf("%s (post %d): text %d chars, content_hash %q, posted_at %v, expires_at %v",
				id, i, len(row.Text), row.ContentHash, row.PostedAt, row.ExpiresAt))
		case tags.Model == "":
			broken = append(broken, id+": tags row without model")
		}
	}
	if len(broken) > 0 {
		t.Errorf("%d of %d posts stored incompletely, e.g.:\n%s", len(broken), len(posts), strings.Join(broken[:min(len(broken), 5)], "\n"))
	}

	// Every post's copy went to the old key (trimmed since: every group
	// read it) and came back to persist and enrich only to be skipped.
	m, err := daemon.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"persist", "enrich"} {
		if skipped := m.Value("stage_echo_skipped_total", "stage", stage); skipped < float64(len(posts)) {
			t.Errorf("%s skipped %v of the daemon's own copies, want at least %d", stage, skipped, len(posts))
		}
	}
}
