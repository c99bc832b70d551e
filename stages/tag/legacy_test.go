package tag_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/legacytest"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/tag"
)

// groupDone reports whether the tag group on key has neither lag nor
// pending entries.
func groupDone(rdb *redis.Client, key string) bool {
	ctx := context.Background()
	groups, err := rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		return false
	}
	for _, g := range groups {
		if g.Name == tag.Name {
			return g.Lag == 0 && g.Pending == 0
		}
	}
	return false
}

// TestLegacyWorkerSideBySide runs the tag stage with the legacy consumer
// on, fed with entries byte for byte as the old telethon ingest writes
// them to stream:posts:parsed (a photo without a caption in the flat form,
// a text post in the data form, times as str(datetime) and naive), while
// the same text post also arrives on our posts.parsed:
//   - the backlog the old key held before the switch is not processed
//     (streams.legacy_start "$");
//   - every post is tagged and published once, the duplicate from the two
//     keys included; the photo post gets empty tags without a model call;
//   - the legacy entries get a trace id minted at this hop, kept in both
//     outputs; user_id and metadata.model are carried;
//   - stream:posts:tagged receives each event in the old PostTaggedEventV1
//     shape (checked by a decoder written to its rules), in the same
//     MULTI/EXEC, with the same tags_hash.
func TestLegacyWorkerSideBySide(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	cfg := config.Default()
	oldParsed := prefix + cfg.Streams.LegacyParsed
	backlog := legacytest.Flat(
		legacytest.Field{Key: "post_id", Value: "old-backlog-1"}, legacytest.Field{Key: "channel_id", Value: "-1001"},
		legacytest.Field{Key: "text", Value: "Пост из хвоста старого воркера, уже обработанный им давным-давно, повторять не надо."},
		legacytest.Field{Key: "posted_at", Value: legacytest.PyTime("2024-12-01 08:00:00+00:00")})
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: oldParsed, Values: backlog}).Err(); err != nil {
		t.Fatal(err)
	}

	counting := &countingTagger{Tagger: local.NewTagger()}
	e := startStageWithRedis(t, rdb, prefix, counting, func(c *config.Config) { c.Streams.LegacyConsumerEnabled = true })
	testenv.WaitFor(t, "the tag group on the old key", 10*time.Second, func() bool { return groupDone(rdb, oldParsed) })

	text := "Телескоп «Джеймс Уэбб» впервые напрямую сфотографировал экзопланету у соседней звезды Эпсилон Индейца A; снимок опубликовало NASA."
	photo := legacytest.Flat(
		legacytest.Field{Key: "post_id", Value: "5b0f4a52-7f3e-4a8e-9a61-2b1c3d4e5f60"},
		legacytest.Field{Key: "tenant_id", Value: "tenant-1"},
		legacytest.Field{Key: "user_id", Value: "user-7"},
		legacytest.Field{Key: "channel_id", Value: "-1001000724666"},
		legacytest.Field{Key: "tg_message_id", Value: int64(11878)},
		legacytest.Field{Key: "text", Value: ""},
		legacytest.Field{Key: "urls", Value: []string{}},
		legacytest.Field{Key: "posted_at", Value: legacytest.PyTime("2024-12-04 09:00:28")},
		legacytest.Field{Key: "has_media", Value: true},
		legacytest.Field{Key: "media_sha256_list", Value: []string{"ab12"}},
		legacytest.Field{Key: "reply_to_message_id", Value: nil})
	textPost := []legacytest.Field{
		{Key: "schema_version", Value: "v1"},
		{Key: "post_id", Value: "8d3e2f10-1a2b-4c3d-9e8f-0a1b2c3d4e5f"},
		{Key: "user_id", Value: "user-7"},
		{Key: "channel_id", Value: "-1001000724666"},
		{Key: "tg_message_id", Value: int64(11877)},
		{Key: "text", Value: text},
		{Key: "posted_at", Value: legacytest.PyStr(time.Date(2024, 12, 3, 12, 45, 10, 500000000, time.UTC))},
		{Key: "has_media", Value: false},
	}
	ours, err := events.Encode(&events.PostParsed{
		Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "our-trace", OccurredAt: time.Now()},
		PostID:   "8d3e2f10-1a2b-4c3d-9e8f-0a1b2c3d4e5f", ChannelID: "-1001000724666", Text: text,
		PostedAt: time.Date(2024, 12, 3, 12, 45, 10, 500000000, time.UTC), UserID: "user-7",
	})
	if err != nil {
		t.Fatal(err)
	}
	pipe := rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: oldParsed, Values: photo})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: oldParsed, Values: legacytest.Data(textPost...)})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: prefix + cfg.Streams.Parsed, Values: ours})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "both keys handled", 20*time.Second, func() bool {
		return groupDone(rdb, oldParsed) && groupDone(rdb, prefix+cfg.Streams.Parsed) &&
			rdb.XLen(ctx, prefix+cfg.Streams.Tagged).Val() >= 2
	})

	got := e.tagged(t)
	byID := map[string]events.PostTagged{}
	for _, ev := range got {
		if _, dup := byID[ev.PostID]; dup {
			t.Errorf("post %s published twice", ev.PostID)
		}
		byID[ev.PostID] = ev
	}
	if len(got) != 2 {
		t.Fatalf("posts.tagged holds %d events, want 2 (the backlog skipped, the duplicate once): %+v", len(got), got)
	}
	ph, ok := byID["5b0f4a52-7f3e-4a8e-9a61-2b1c3d4e5f60"]
	if !ok || len(ph.Tags) != 0 || ph.Provider != "rule" || ph.Text != "" || ph.UserID != "user-7" || ph.TenantID != "tenant-1" {
		t.Errorf("photo post: %+v", ph)
	}
	if !ph.PostedAt.Equal(time.Date(2024, 12, 4, 9, 0, 28, 0, time.UTC)) {
		t.Errorf("photo post: naive posted_at read as %v, want it as UTC", ph.PostedAt)
	}
	if ph.TraceID == "" {
		t.Error("photo post: no trace id minted")
	}
	tp := byID["8d3e2f10-1a2b-4c3d-9e8f-0a1b2c3d4e5f"]
	if len(tp.Tags) == 0 || tp.Metadata["model"] != tp.Model || tp.UserID != "user-7" || tp.TraceID == "" {
		t.Errorf("text post: %+v", tp)
	}
	if n := counting.calls.Load(); n != 1 {
		t.Errorf("the tagger was called %d times, want once (the photo post needs no model, the duplicate is not tagged again)", n)
	}

	// The old downstream tasks' view of stream:posts:tagged.
	legacy, err := rdb.XRange(ctx, prefix+cfg.Streams.LegacyTagged, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(legacy) != 2 {
		t.Fatalf("stream:posts:tagged holds %d entries, want 2", len(legacy))
	}
	for _, entry := range legacy {
		old, err := legacytest.DecodeOldTagged(entry.Values)
		if err != nil {
			t.Errorf("the old consumer refuses entry %s: %v (%v)", entry.ID, err, entry.Values)
			continue
		}
		ours := byID[old.PostID]
		if old.TagsHash != ours.TagsHash || old.TraceID != ours.TraceID || old.Metadata["model"] != ours.Model ||
			old.UserID == nil || *old.UserID != "user-7" {
			t.Errorf("old view of %s: %+v, ours %+v", old.PostID, old, ours)
		}
	}
	// The minted trace id is derived from the entry: a redelivery keeps it.
	again := e.tagged(t)
	for i := range again {
		if again[i].TraceID != got[i].TraceID {
			t.Errorf("trace id changed")
		}
	}
	_ = e
}
