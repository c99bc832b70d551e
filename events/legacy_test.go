package events_test

import (
	"testing"
	"time"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/legacytest"
)

// oldParsed is a photo post without a caption as the old telethon ingest
// describes it, in the order its model declares the fields.
func oldParsed(postedAt any, text string) []legacytest.Field {
	return []legacytest.Field{
		{Key: "post_id", Value: "5b0f4a52-7f3e-4a8e-9a61-2b1c3d4e5f60"},
		{Key: "tenant_id", Value: "tenant-1"},
		{Key: "user_id", Value: "user-7"},
		{Key: "channel_id", Value: "-1001000724666"},
		{Key: "tg_message_id", Value: int64(11877)},
		{Key: "text", Value: text},
		{Key: "urls", Value: []string{}},
		{Key: "posted_at", Value: postedAt},
		{Key: "has_media", Value: true},
		{Key: "media_sha256_list", Value: []string{"ab12"}},
		{Key: "views_count", Value: int64(1500)},
		{Key: "reply_to_message_id", Value: nil}, // None: the old publisher drops it
	}
}

// TestDecodeOldPublisherEntries decodes entries byte for byte as the old
// ingest writes them, in both forms: a photo post without a caption (empty
// text) is a valid posts.parsed, and every timestamp form the old
// validator accepted is read as the same instant.
func TestDecodeOldPublisherEntries(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 12, 4, 9, 0, 28, 0, time.UTC)
	micro := at.Add(123456 * time.Microsecond)
	times := []struct {
		name  string
		value any
		want  time.Time
	}{
		{"str(datetime), aware", legacytest.PyStr(at), at},
		{"str(datetime) with microseconds", legacytest.PyStr(micro), micro},
		{"str(datetime), +03:00", legacytest.PyTime("2024-12-04 12:00:28+03:00"), at},
		{"isoformat, aware", legacytest.PyTime("2024-12-04T09:00:28+00:00"), at},
		{"RFC 3339 Z", legacytest.PyTime("2024-12-04T09:00:28Z"), at},
		{"naive isoformat (UTC)", legacytest.PyTime("2024-12-04T09:00:28.123456"), micro},
		{"naive str(datetime) (UTC)", legacytest.PyTime("2024-12-04 09:00:28"), at},
	}
	for _, tm := range times {
		for _, form := range []struct {
			name   string
			values map[string]any
		}{
			{"flat", legacytest.Flat(oldParsed(tm.value, "")...)},
			{"data", legacytest.Data(oldParsed(tm.value, "")...)},
		} {
			var ev events.PostParsed
			if err := events.Decode(form.values, &ev); err != nil {
				t.Errorf("%s, %s form: %v (entry %v)", tm.name, form.name, err, form.values)
				continue
			}
			if !ev.PostedAt.Equal(tm.want) {
				t.Errorf("%s, %s form: posted_at %v, want %v", tm.name, form.name, ev.PostedAt, tm.want)
			}
			if ev.Text != "" || !ev.HasMedia || ev.TGMessageID != 11877 || ev.UserID != "user-7" ||
				ev.TenantID != "tenant-1" || ev.ViewsCount != 1500 || len(ev.MediaSHA256List) != 1 {
				t.Errorf("%s, %s form: decoded %+v", tm.name, form.name, ev)
			}
		}
	}
	var ev events.PostParsed
	if err := events.Decode(legacytest.Flat(oldParsed(legacytest.PyTime("4 December"), "x")...), &ev); err == nil {
		t.Error("a time that is no time was accepted")
	}
}
