package operator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

func adminKeys(prefix string) pipeline.Keys {
	return pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
}

// addDLQ writes a DLQ entry the way the runner does (docs/delivery.md, "Dead letters") and
// returns its DLQ id.
func addDLQ(t *testing.T, rdb *redis.Client, keys pipeline.Keys, stream string, original map[string]string, errClass string) string {
	t.Helper()
	data, err := json.Marshal(original)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{
		Stream: keys.DLQ(stream),
		Values: []any{
			"data", string(data),
			"stream", stream,
			"group", "tag",
			"entry_id", "1700000000000-0",
			"stage", "tag",
			"error", "undecodable entry: data is not JSON",
			"error_class", errClass,
			"attempts", "5",
			"first_seen_at", now.Add(-time.Minute).Format(time.RFC3339Nano),
			"failed_at", now.Format(time.RFC3339),
			"trace_id", "trace-1",
		},
	}).Result()
	if err != nil {
		t.Fatalf("write DLQ entry: %v", err)
	}
	return id
}

func TestStreamsReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	keys := adminKeys(prefix)
	key := keys.Stream("posts.parsed")

	// Five entries stamped ten minutes ago, so the oldest pending age is known.
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	var ids []string
	for i := range 5 {
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: fmt.Sprintf("%d-%d", base, i), Values: []any{"data", "{}"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, g := range []string{"tag", "audit"} {
		if err := rdb.XGroupCreate(ctx, key, g, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// tag: two delivered to one consumer, the second acknowledged.
	if _, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "tag", Consumer: "host-1-tag-0", Streams: []string{key, ">"}, Count: 2}).Result(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAck(ctx, key, "tag", ids[1]).Err(); err != nil {
		t.Fatal(err)
	}
	addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"data": "x"}, pipeline.ClassPermanent)
	addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"data": "y"}, pipeline.ClassExhausted)

	reports, err := operator.StreamsReport(ctx, rdb, keys, []string{"posts.parsed", "posts.tagged"})
	if err != nil {
		t.Fatalf("StreamsReport: %v", err)
	}
	if len(reports) != 2 {
		t.Fatalf("got %d reports", len(reports))
	}
	parsed, tagged := reports[0], reports[1]
	if !parsed.Exists || parsed.Length != 5 || parsed.Key != key || parsed.DLQLength != 2 || parsed.DLQNewestTime.IsZero() {
		t.Errorf("parsed: %+v", parsed)
	}
	if parsed.FirstEntryID != ids[0] || parsed.LastEntryID != ids[4] {
		t.Errorf("first/last: %s %s", parsed.FirstEntryID, parsed.LastEntryID)
	}
	groups := map[string]operator.GroupReport{}
	for _, g := range parsed.Groups {
		groups[g.Name] = g
	}
	tag := groups["tag"]
	if tag.Lag != 3 || tag.Pending != 1 || tag.OldestPendingID != ids[0] || tag.LastDeliveredID != ids[1] {
		t.Errorf("tag group: %+v", tag)
	}
	if tag.OldestPendingAge < 10*time.Minute || tag.OldestPendingAge > 11*time.Minute {
		t.Errorf("oldest pending age %s, want about 10m (from the entry id)", tag.OldestPendingAge)
	}
	if tag.OldestPendingIdle > time.Minute || tag.OldestPendingDeliveries != 1 {
		t.Errorf("oldest pending idle %s, deliveries %d", tag.OldestPendingIdle, tag.OldestPendingDeliveries)
	}
	if len(tag.Consumers) != 1 || tag.Consumers[0].Name != "host-1-tag-0" || tag.Consumers[0].Pending != 1 {
		t.Errorf("tag consumers: %+v", tag.Consumers)
	}
	audit := groups["audit"]
	if audit.Lag != 5 || audit.Pending != 0 || audit.OldestPendingID != "" || len(audit.Consumers) != 0 {
		t.Errorf("audit group: %+v", audit)
	}
	if tagged.Exists || tagged.Length != 0 || tagged.DLQLength != 0 || len(tagged.Groups) != 0 {
		t.Errorf("missing stream: %+v", tagged)
	}
}

func TestDLQListAndGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	keys := adminKeys(prefix)
	event := `{"schema_version":"v1","post_id":"p1","text":"Привет"}`
	id1 := addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"data": event}, pipeline.ClassPermanent)
	id2 := addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"post_id": "p2", "text": "flat"}, pipeline.ClassExhausted)
	idTagged, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.DLQ("posts.tagged"), ID: "1000-0", Values: []any{"data", "{}", "stage", "persist"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	// DLQ ids are per stream: the same id in two DLQs is ambiguous.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.DLQ("posts.tagged"), ID: id2, Values: []any{"data", "{}"}}).Err(); err != nil {
		t.Fatal(err)
	}

	page, err := operator.DLQList(ctx, rdb, keys, "posts.parsed", 1)
	if err != nil {
		t.Fatalf("DLQList: %v", err)
	}
	if page.Total != 2 || len(page.Entries) != 1 || page.Entries[0].ID != id1 {
		t.Fatalf("page: %+v", page)
	}
	e := page.Entries[0]
	if e.Stream != "posts.parsed" || e.Stage != "tag" || e.Group != "tag" || e.ErrorClass != "permanent" ||
		e.Attempts != 5 || e.TraceID != "trace-1" || e.EntryID != "1700000000000-0" ||
		e.FailedAt.IsZero() || e.FirstSeenAt.IsZero() || e.Data["data"] != event || e.DataErr != nil {
		t.Errorf("decoded entry: %+v", e)
	}
	all, err := operator.DLQList(ctx, rdb, keys, "posts.parsed", 0)
	if err != nil || len(all.Entries) != 2 || all.Entries[1].ID != id2 {
		t.Fatalf("list all: %+v, %v", all, err)
	}

	got, err := operator.DLQGet(ctx, rdb, keys, []string{"posts.parsed", "posts.tagged"}, idTagged)
	if err != nil || got.Stream != "posts.tagged" || got.Stage != "persist" {
		t.Errorf("get across streams (stream field absent: taken from the DLQ): %+v, %v", got, err)
	}
	if _, err := operator.DLQGet(ctx, rdb, keys, []string{"posts.parsed", "posts.tagged"}, id2); !errors.Is(err, operator.ErrDLQEntryAmbiguous) {
		t.Errorf("same id in two DLQs: %v", err)
	}
	got, err = operator.DLQGet(ctx, rdb, keys, []string{"posts.parsed"}, id2)
	if err != nil || got.Data["post_id"] != "p2" || got.Data["text"] != "flat" {
		t.Errorf("get flat: %+v, %v", got, err)
	}
	if _, err := operator.DLQGet(ctx, rdb, keys, []string{"posts.tagged"}, id1); !errors.Is(err, operator.ErrDLQEntryNotFound) {
		t.Errorf("wrong stream: %v", err)
	}
	if _, err := operator.DLQGet(ctx, rdb, keys, []string{"posts.parsed"}, "-"); err == nil || !strings.Contains(err.Error(), "not a stream entry id") {
		t.Errorf("bad id: %v", err)
	}
}

func TestDLQReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	keys := adminKeys(prefix)
	stream := keys.Stream("posts.parsed")
	// A group that has consumed everything so far: a replayed entry must
	// reach it as a new entry.
	if err := rdb.XGroupCreateMkStream(ctx, stream, "tag", "$").Err(); err != nil {
		t.Fatal(err)
	}

	event := `{"schema_version":"v1","post_id":"p1","text":"Привет, мир"}`
	idData := addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"data": event}, pipeline.ClassExhausted)
	idFlat := addDLQ(t, rdb, keys, "posts.parsed", map[string]string{"post_id": "p2", "text": "flat", "has_media": "False"}, pipeline.ClassPermanent)
	idBroken, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.DLQ("posts.parsed"), Values: []any{"data", "not json", "stream", "posts.parsed"}}).Result()
	if err != nil {
		t.Fatal(err)
	}

	res, err := operator.DLQReplay(ctx, rdb, keys, "posts.parsed", []string{idData}, false)
	if err != nil || res.Done != 1 {
		t.Fatalf("replay one: %+v, %v", res, err)
	}
	read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "tag", Consumer: "c", Streams: []string{stream, ">"}, Count: 10, Block: -1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("read replayed: %+v, %v", read, err)
	}
	if vals := read[0].Messages[0].Values; len(vals) != 1 || vals["data"] != event {
		t.Errorf("replayed fields: %v", vals)
	}
	if n := rdb.XLen(ctx, keys.DLQ("posts.parsed")).Val(); n != 2 {
		t.Errorf("DLQ length after one replay: %d", n)
	}

	if _, err := operator.DLQReplay(ctx, rdb, keys, "posts.parsed", []string{"1-0"}, false); !errors.Is(err, operator.ErrDLQEntryNotFound) {
		t.Errorf("unknown id: %v", err)
	}

	res, err = operator.DLQReplay(ctx, rdb, keys, "posts.parsed", nil, true)
	if err != nil || res.Done != 1 || len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0], idBroken) {
		t.Fatalf("replay all: %+v, %v", res, err)
	}
	msgs := rdb.XRange(ctx, stream, "-", "+").Val()
	if len(msgs) != 2 {
		t.Fatalf("stream has %d entries", len(msgs))
	}
	flat := msgs[1].Values
	if flat["post_id"] != "p2" || flat["text"] != "flat" || flat["has_media"] != "False" || len(flat) != 3 {
		t.Errorf("flat entry replayed as %v", flat)
	}
	left := rdb.XRange(ctx, keys.DLQ("posts.parsed"), "-", "+").Val()
	if len(left) != 1 || left[0].ID != idBroken {
		t.Errorf("DLQ after replay all: %v (flat was %s)", left, idFlat)
	}
}

func TestDLQPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	keys := adminKeys(prefix)
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = addDLQ(t, rdb, keys, "posts.tagged", map[string]string{"data": "{}"}, pipeline.ClassPermanent)
	}

	if _, err := operator.DLQPurge(ctx, rdb, keys, "posts.tagged", []string{ids[0], "1-0"}, false); !errors.Is(err, operator.ErrDLQEntryNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if n := rdb.XLen(ctx, keys.DLQ("posts.tagged")).Val(); n != 3 {
		t.Fatalf("a failed purge deleted entries: %d left", n)
	}
	res, err := operator.DLQPurge(ctx, rdb, keys, "posts.tagged", []string{ids[1]}, false)
	if err != nil || res.Done != 1 {
		t.Fatalf("purge one: %+v, %v", res, err)
	}
	if _, err := operator.DLQPurge(ctx, rdb, keys, "posts.tagged", nil, false); err == nil {
		t.Error("purge without ids or all must fail")
	}
	res, err = operator.DLQPurge(ctx, rdb, keys, "posts.tagged", nil, true)
	if err != nil || res.Done != 2 {
		t.Fatalf("purge all: %+v, %v", res, err)
	}
	if n := rdb.Exists(ctx, keys.DLQ("posts.tagged")).Val(); n != 0 {
		t.Error("DLQ still exists")
	}
	res, err = operator.DLQPurge(ctx, rdb, keys, "posts.tagged", nil, true)
	if err != nil || res.Done != 0 {
		t.Errorf("purge empty: %+v, %v", res, err)
	}
}
