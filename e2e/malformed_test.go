package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// badEntry is one malformed posts.parsed entry and the words its DLQ reason
// must contain.
type badEntry struct {
	kind   string
	values map[string]any
	reason string
}

// TestMalformedEntriesAreDeadLettered proves that bad posts.parsed entries
// XADDed among good ones — not JSON, JSON but not an object, missing
// post_id, text or posted_at, wrong types, an entry above
// runner.max_entry_bytes, invalid UTF-8, an unknown schema_version, a bad
// time, legacy flat entries with a bad number or without event fields —
// each land in posts.parsed.dlq once, as permanent failures whose error
// names the problem; that every good entry around them is stored; and that
// the daemon process never restarts or stops answering /healthz meanwhile.
func TestMalformedEntriesAreDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	daemon := stack.Start(ctx, Options{})
	pid := daemon.PID()
	health := daemon.WatchHealth(ctx, 20*time.Millisecond)

	posts := testenv.SamplePosts(t, 40)
	good := func(i int) *events.PostParsed {
		p := posts[i]
		return &events.PostParsed{
			Envelope: events.Envelope{
				SchemaVersion: events.SchemaV1,
				TraceID:       fmt.Sprintf("trace-good-%d", i),
				OccurredAt:    time.Now().UTC(),
			},
			PostID:    ingest.PostID(channelIDOf(p), p.MessageID),
			ChannelID: channelIDOf(p),
			Text:      p.Text,
			PostedAt:  time.Date(2024, 12, 1, 10, 0, 0, 0, time.UTC),
		}
	}
	// object returns a good event as a JSON object with some keys changed
	// (a nil value deletes the key).
	object := func(changes map[string]any) map[string]any {
		values, err := events.Encode(good(0))
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(values[events.DataField].(string)), &obj); err != nil {
			t.Fatal(err)
		}
		obj["post_id"] = "bad-" + fmt.Sprint(len(changes)) + "-" + fmt.Sprint(changes)
		for k, v := range changes {
			if v == nil {
				delete(obj, k)
			} else {
				obj[k] = v
			}
		}
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{events.DataField: string(b)}
	}
	bad := []badEntry{
		{"not JSON", map[string]any{"data": "this is not json"}, "not JSON"},
		{"JSON but not an object", map[string]any{"data": `["post_id", "text"]`}, "not an object"},
		{"missing post_id", object(map[string]any{"post_id": nil}), "missing required field post_id"},
		{"missing channel_id", object(map[string]any{"channel_id": nil}), "missing required field channel_id"},
		{"missing posted_at", object(map[string]any{"posted_at": nil}), "missing required field posted_at"},
		{"wrong type", object(map[string]any{"channel_id": 12345}), "channel_id has the wrong type"},
		{"bad time", object(map[string]any{"posted_at": "yesterday"}), "field posted_at"},
		{"too large", object(map[string]any{"text": strings.Repeat("a", 10<<20)}), "max_entry_bytes"},
		{"invalid UTF-8", map[string]any{"data": "{\"post_id\": \"x\", \"text\": \"\xff\xfe broken\"}"}, "UTF-8"},
		{"unknown schema_version", object(map[string]any{"schema_version": "v9"}), `schema_version "v9"`},
		{"legacy flat, bad number", map[string]any{
			"post_id": "legacy-bad-number", "channel_id": "-1001", "text": posts[1].Text,
			"posted_at": "2024-12-01T10:00:00Z", "tg_message_id": "12a",
		}, "tg_message_id"},
		{"no event fields", map[string]any{"hello": "world"}, "neither a data field nor event fields"},
	}

	// Interleave: a good entry, a bad one, a good one, ...
	badIDs := map[string]badEntry{}
	var goodIDs []string
	next := 0
	addGood := func() {
		values, err := events.Encode(good(next))
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Redis.XAdd(ctx, &redis.XAddArgs{Stream: stack.Keys.Stream(stack.Streams.Parsed), Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
		goodIDs = append(goodIDs, good(next).PostID)
		next++
	}
	for _, b := range bad {
		addGood()
		id, err := stack.Redis.XAdd(ctx, &redis.XAddArgs{Stream: stack.Keys.Stream(stack.Streams.Parsed), Values: b.values}).Result()
		if err != nil {
			t.Fatalf("xadd %s: %v", b.kind, err)
		}
		badIDs[id] = b
		addGood()
	}
	for next < len(posts) {
		addGood()
	}

	stack.WaitDrained(ctx, 60*time.Second)

	dlq, err := stack.Redis.XRange(ctx, stack.Keys.DLQ(stack.Streams.Parsed), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range dlq {
		entryID, _ := m.Values[pipeline.DLQFieldEntryID].(string)
		reason, _ := m.Values[pipeline.DLQFieldError].(string)
		class, _ := m.Values[pipeline.DLQFieldErrorClass].(string)
		b, ok := badIDs[entryID]
		if !ok {
			t.Errorf("DLQ holds entry %s that was not malformed: %s", entryID, reason)
			continue
		}
		seen[entryID]++
		if !strings.Contains(reason, b.reason) {
			t.Errorf("%s: DLQ reason %q does not mention %q", b.kind, reason, b.reason)
		}
		if class != "permanent" {
			t.Errorf("%s: error_class %q, want permanent", b.kind, class)
		}
		if m.Values[pipeline.DLQFieldStage] != "tag" || m.Values[pipeline.DLQFieldStream] != stack.Streams.Parsed {
			t.Errorf("%s: DLQ entry names stage %v stream %v", b.kind, m.Values[pipeline.DLQFieldStage], m.Values[pipeline.DLQFieldStream])
		}
		t.Logf("%-24s → %s", b.kind, truncateString(reason, 120))
	}
	for id, b := range badIDs {
		if seen[id] != 1 {
			t.Errorf("%s (entry %s): %d DLQ entries, want 1", b.kind, id, seen[id])
		}
	}

	snap, err := stack.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range goodIDs {
		if _, ok := snap.Posts[id]; !ok {
			t.Errorf("good post %s has no posts row", id)
		}
		if _, ok := snap.Tags[id]; !ok {
			t.Errorf("good post %s has no tags row", id)
		}
	}
	if len(snap.Posts) != len(goodIDs) {
		t.Errorf("%d posts rows, want %d (only the good entries)", len(snap.Posts), len(goodIDs))
	}

	polls, failures := health.Stop()
	if len(failures) > 0 {
		t.Errorf("/healthz failed %d of %d polls: %v", len(failures), polls, failures)
	}
	if !daemon.Running() || daemon.PID() != pid {
		t.Fatalf("the daemon did not survive the malformed entries (running %v, pid %d, want %d)", daemon.Running(), daemon.PID(), pid)
	}
	if status, _, err := daemon.Get(ctx, "/readyz"); err != nil || status != 200 {
		t.Errorf("/readyz after the malformed entries: %d %v", status, err)
	}
	daemon.Stop()
	t.Logf("%d malformed entries dead-lettered, %d good ones stored, /healthz polled %d times", len(badIDs), len(goodIDs), polls)
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
