package pipeline_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

// TestDLQEntryRoundTrip: what the runner writes is exactly what `assistant
// dlq` reads back, original fields included.
func TestDLQEntryRoundTrip(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	m := &pipeline.Message{
		Stream: "posts.parsed", ID: "1700000000000-3", Attempt: 5, FirstSeen: first,
		Values: map[string]any{"data": `{"post_id":"p1","trace_id":"tr-1","text":"Привет"}`},
	}
	e := pipeline.NewDLQEntry(m, "tag", pipeline.ClassExhausted, errors.New("provider down"), first.Add(time.Minute))
	got := pipeline.DecodeDLQEntry(redis.XMessage{ID: "1800000000000-0", Values: e.Encode()})
	if got.ID != "1800000000000-0" || got.Stream != "posts.parsed" || got.Group != "tag" || got.Stage != "tag" ||
		got.EntryID != m.ID || got.Error != "provider down" || got.ErrorClass != pipeline.ClassExhausted ||
		got.Attempts != 5 || !got.FirstSeenAt.Equal(first) || !got.FailedAt.Equal(first.Add(time.Minute)) ||
		got.TraceID != "tr-1" || got.DataErr != nil {
		t.Errorf("decoded %+v", got)
	}
	if want := map[string]string{"data": m.Values["data"].(string)}; !reflect.DeepEqual(got.Data, want) {
		t.Errorf("original fields %v, want %v", got.Data, want)
	}
}

func TestParseStreamID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{{"1-0", true}, {"1732880000000-18446744073709551615", true}, {"1", false}, {"$", false}, {"-", false}, {"1-x", false}, {"-1-0", false}} {
		id, err := pipeline.ParseStreamID(tc.in)
		if (err == nil) != tc.ok || tc.ok && id.String() != tc.in {
			t.Errorf("ParseStreamID(%q) = %v, %v", tc.in, id, err)
		}
	}
	a, _ := pipeline.ParseStreamID("5-18446744073709551615")
	if n := a.Next(); n.String() != "6-0" || !a.Less(n) {
		t.Errorf("Next of %v = %v", a, n)
	}
	if b, _ := pipeline.ParseStreamID("1700000000000-0"); !b.Time().Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("Time = %v", b.Time())
	}
}

// TestDLQCopyAndReplayAreByteExact: an entry holding bytes that are not
// UTF-8 (in its data field, in another field's value and in a field name)
// is dead-lettered by the runner and replayed; the replayed stream entry's
// fields are the original's, byte for byte. JSON alone would have turned
// each bad byte into U+FFFD (3 bytes) and the replay would differ.
func TestDLQCopyAndReplayAreByteExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, "test-pass", nil)
	original := map[string]string{
		// Undecodable (not UTF-8): the runner dead-letters it at once.
		"data": "{\"n\":1,\"text\":\"caf\xc3\xa9 \xff\xfe broken\"}",
		// NUL, a lone continuation byte, a truncated sequence, an encoded
		// surrogate: every kind of invalid UTF-8.
		"blob":    "\x00\x01\x80\xc3(\xed\xa0\x80end\xf0\x9f",
		"caf\xe9": "a field name in Latin-1",
	}
	stream := h.key(h.cfg.Streams.Parsed)
	origID, err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: original}).Result()
	if err != nil {
		t.Fatalf("xadd: %v", err)
	}
	h.start()
	testenv.WaitFor(t, "the DLQ entry", 10*time.Second, func() bool { return len(h.dlq(t)) == 1 })
	// Stop the runner, so that the replayed entry stays as replay wrote it.
	h.cancel()
	runErr := <-h.done
	h.done <- runErr

	dlqEntry := h.dlq(t)[0]
	stored := pipeline.DecodeDLQEntry(dlqEntry)
	if stored.DataErr != nil || !reflect.DeepEqual(stored.Data, original) {
		t.Fatalf("DLQ copy holds %q (%v), want %q", stored.Data, stored.DataErr, original)
	}
	if operator.DLQPostID(stored) != "" || stored.EntryID != origID {
		t.Errorf("DLQ entry of %s names entry %s", origID, stored.EntryID)
	}

	keys := pipeline.Keys{Prefix: h.prefix, DLQSuffix: h.cfg.Streams.DLQSuffix}
	res, err := operator.DLQReplay(ctx, h.rdb, keys, h.cfg.Streams.Parsed, []string{dlqEntry.ID}, false)
	if err != nil || res.Done != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	replayed, err := h.rdb.XRange(ctx, stream, "("+origID, "+").Result()
	if err != nil || len(replayed) != 1 {
		t.Fatalf("entries after the original: %v, %v", replayed, err)
	}
	got := replayed[0].Values
	if len(got) != len(original) {
		t.Errorf("replayed %d fields, want %d: %q", len(got), len(original), got)
	}
	for k, want := range original {
		v, _ := got[k].(string)
		if v != want {
			t.Errorf("field %q replayed as % x, want % x", k, v, want)
		}
	}
}

// TestDLQEntryOfUTF8FieldsKeepsTheOldFormat: an entry that is all UTF-8
// (every entry the stages write) is stored exactly as before the raw:
// fields existed, so older readers and tools keep working; an old-format
// entry decodes from its data field.
func TestDLQEntryOfUTF8FieldsKeepsTheOldFormat(t *testing.T) {
	t.Parallel()
	m := &pipeline.Message{Stream: "posts.parsed", ID: "1-0", Attempt: 1,
		Values: map[string]any{"data": `{"post_id":"p1","text":"Привет <b>&</b>"}`, "post_id": "p1"}}
	e := pipeline.NewDLQEntry(m, "tag", pipeline.ClassPermanent, errors.New("bad"), time.Now())
	fields := e.Encode()
	for k := range fields {
		if len(k) > len(pipeline.DLQRawFieldPrefix) && k[:len(pipeline.DLQRawFieldPrefix)] == pipeline.DLQRawFieldPrefix {
			t.Errorf("UTF-8 entry got raw field %q", k)
		}
	}
	got := pipeline.DecodeDLQEntry(redis.XMessage{ID: "2-0", Values: fields})
	if want := map[string]string{"data": m.Values["data"].(string), "post_id": "p1"}; !reflect.DeepEqual(got.Data, want) {
		t.Errorf("decoded %q, want %q", got.Data, want)
	}
}

func TestVisibleBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"Привет", "Привет"},
		{"caf\xe9", `caf\xe9`},
		{"\x00\xff\xfeok\xc3", "\x00" + `\xff\xfeok\xc3`},
		{"\xed\xa0\x80", `\xed\xa0\x80`},
	} {
		if got := pipeline.VisibleBytes(tc.in); got != tc.want {
			t.Errorf("VisibleBytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
