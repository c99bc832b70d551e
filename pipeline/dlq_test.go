package pipeline_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/pipeline"
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
