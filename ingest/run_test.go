package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// streamEvents reads a whole stream back and decodes every entry.
func streamEvents(t *testing.T, rdb redis.UniversalClient, key string) []*events.PostParsed {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", key, err)
	}
	evs := make([]*events.PostParsed, 0, len(entries))
	for _, e := range entries {
		if len(e.Values) != 1 {
			t.Fatalf("entry %s has fields %v, want only data", e.ID, e.Values)
		}
		var ev events.PostParsed
		if err := events.Decode(e.Values, &ev); err != nil {
			t.Fatalf("entry %s: %v", e.ID, err)
		}
		// Decoding loses nothing: encoding the decoded event gives the
		// entry back byte for byte.
		again, err := events.Encode(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if again[events.DataField] != e.Values[events.DataField] {
			t.Errorf("entry %s does not round-trip:\n got %s\nwant %s", e.ID, again[events.DataField], e.Values[events.DataField])
		}
		evs = append(evs, &ev)
	}
	return evs
}

func TestRunPublishesSample(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
	ctx := context.Background()

	var progress bytes.Buffer
	sum, err := Run(ctx, rdb, keys, []string{testenv.SamplePath()}, Options{Progress: &progress, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want, _, _, err := readAll(t, testenv.SamplePath(), FormatJSONL)
	if err != nil {
		t.Fatal(err)
	}
	stripRunFields(t, want)
	if sum.Posts != 500 || sum.Published != 500 || sum.Malformed != 0 || sum.Files != 1 || len(want) != 500 {
		t.Fatalf("summary = %+v (read %d)", sum, len(want))
	}
	if sum.Stream != prefix+"posts.parsed" {
		t.Errorf("stream = %q", sum.Stream)
	}
	got := streamEvents(t, rdb, keys.Stream("posts.parsed"))
	if len(got) != 500 {
		t.Fatalf("stream has %d entries, want 500", len(got))
	}
	traceIDs := map[string]bool{}
	for i, ev := range got {
		if traceIDs[ev.TraceID] {
			t.Errorf("trace id %s used twice", ev.TraceID)
		}
		traceIDs[ev.TraceID] = true
		if ev.IdempotencyKey != ev.PostID {
			t.Errorf("idempotency_key %q, want post_id %q", ev.IdempotencyKey, ev.PostID)
		}
		stripRunFields(t, []*events.PostParsed{ev})
		if !reflect.DeepEqual(ev, want[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, *ev, *want[i])
		}
	}
	// Not a terminal: only the summary line.
	if out := progress.String(); !strings.HasPrefix(out, "ingested 500 posts (0 media without text) from 1 file(s)") || strings.Count(out, "\n") != 1 || strings.Contains(out, "\r") {
		t.Errorf("progress output = %q", out)
	}
}

func TestRunTwiceSameIDs(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
	files := []string{fixture("result.json"), fixture("account_result.json")}
	for range 2 {
		if _, err := Run(context.Background(), rdb, keys, files, Options{Logger: quietLogger()}); err != nil {
			t.Fatal(err)
		}
	}
	got := streamEvents(t, rdb, keys.Stream(DefaultStream))
	// Ingest does not deduplicate: both runs publish (7 + 3 posts each),
	// and the consumers' idempotency keys make the repeats no-ops.
	if len(got) != 20 {
		t.Fatalf("stream has %d entries, want 20", len(got))
	}
	for i := range 10 {
		first, second := got[i], got[i+10]
		if first.PostID != second.PostID || first.IdempotencyKey != second.IdempotencyKey {
			t.Errorf("entry %d: ids differ between runs: %s / %s", i, first.PostID, second.PostID)
		}
		if first.TraceID == second.TraceID {
			t.Errorf("entry %d: trace id reused across runs", i)
		}
	}
	// Posts 2 and 3 are in both exports: same ids.
	if got[0].PostID != got[7].PostID || got[1].PostID != got[8].PostID {
		t.Errorf("the same post has different ids in the two exports")
	}
}

func TestRunBrokenLines(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
	var problems []Problem
	var logs bytes.Buffer
	sum, err := Run(context.Background(), rdb, keys, []string{fixture("broken.jsonl")}, Options{
		Stream:    "custom.parsed",
		Logger:    slog.New(slog.NewJSONHandler(&logs, nil)),
		OnProblem: func(p Problem) { problems = append(problems, p) },
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var lines []int
	for _, p := range problems {
		lines = append(lines, p.Line)
	}
	if !reflect.DeepEqual(lines, []int{3, 4, 5, 9}) {
		t.Errorf("problem lines = %v, want [3 4 5 9]", lines)
	}
	if sum.Published != 3 || sum.Malformed != 4 || sum.SkippedEmpty != 1 {
		t.Errorf("summary = %+v", sum)
	}
	got := streamEvents(t, rdb, keys.Stream("custom.parsed"))
	var ids []int64
	for _, ev := range got {
		ids = append(ids, ev.TGMessageID)
	}
	if !reflect.DeepEqual(ids, []int64{101, 102, 105}) {
		t.Errorf("published messages %v, want [101 102 105]", ids)
	}
	// Each problem is logged with its line and reason.
	dec := json.NewDecoder(&logs)
	warned := 0
	for {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			break
		}
		if rec["level"] == "WARN" && rec["line"] != nil && rec["reason"] != nil && rec["file"] != nil {
			warned++
		}
	}
	if warned != 4 {
		t.Errorf("%d warnings logged with file, line and reason, want 4:\n%s", warned, logs.String())
	}
}

func TestRunDryRun(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
	var out bytes.Buffer
	sum, err := Run(context.Background(), rdb, keys, []string{testenv.SamplePath()}, Options{DryRun: true, Out: &out, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != 500 || !sum.DryRun || sum.Stream != "" {
		t.Errorf("summary = %+v", sum)
	}
	n := 0
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev events.PostParsed
		if err := events.Decode(map[string]any{events.DataField: sc.Text()}, &ev); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	if n != 500 {
		t.Errorf("dry run wrote %d lines, want 500", n)
	}
	keysLeft, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keysLeft) != 0 {
		t.Errorf("dry run touched Redis: %v", keysLeft)
	}
	// Redis is not needed at all.
	if _, err := Run(context.Background(), nil, keys, []string{fixture("result.json")}, Options{DryRun: true, Out: io.Discard, Logger: quietLogger()}); err != nil {
		t.Errorf("dry run without Redis: %v", err)
	}
}

func TestRunLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     []string
		limit     int
		batchSize int
		want      int
		reached   bool
	}{
		{"inside a batch", []string{testenv.SamplePath()}, 7, 3, 7, true},
		{"at a batch boundary", []string{testenv.SamplePath()}, 6, 3, 6, true},
		{"across files", []string{fixture("result.json"), fixture("broken.jsonl"), testenv.SamplePath()}, 8, 0, 8, true},
		{"above what there is", []string{fixture("result.json")}, 100, 0, 7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
			sum, err := Run(context.Background(), rdb, keys, tt.files, Options{Limit: tt.limit, BatchSize: tt.batchSize, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			n, err := rdb.XLen(context.Background(), keys.Stream(DefaultStream)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if int(n) != tt.want || sum.Published != tt.want || sum.LimitReached != tt.reached {
				t.Errorf("XLEN %d, summary %+v; want %d published, limit reached %v", n, sum, tt.want, tt.reached)
			}
		})
	}
}

func TestRunBadFileDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq"}
	missing := fixture("does-not-exist.jsonl")
	sum, err := Run(context.Background(), rdb, keys, []string{fixture("result.json"), missing, fixture("broken.jsonl")}, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.jsonl") {
		t.Errorf("err = %v, want the missing file named", err)
	}
	if sum.Published != 10 || sum.Files != 3 || sum.MediaOnly != 1 {
		t.Errorf("summary = %+v, want 10 published (1 photo without text) from 3 files", sum)
	}
}

func TestRunRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	sum, err := Run(context.Background(), rdb, pipeline.Keys{Prefix: "x:"}, []string{testenv.SamplePath()}, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "XADD x:posts.parsed") {
		t.Errorf("err = %v, want an XADD failure", err)
	}
	if sum.Published != 0 {
		t.Errorf("published %d with Redis down", sum.Published)
	}
}

func TestRunOptionErrors(t *testing.T) {
	t.Parallel()
	keys := pipeline.Keys{}
	tests := []struct {
		name  string
		files []string
		opts  Options
		want  string
	}{
		{"no files", nil, Options{DryRun: true, Out: io.Discard}, "no input files"},
		{"dry run without output", []string{"x"}, Options{DryRun: true}, "output writer"},
		{"no Redis", []string{"x"}, Options{}, "no Redis client"},
		{"bad format", []string{"x"}, Options{Format: "xml"}, "unknown input format"},
	}
	for _, tt := range tests {
		if _, err := Run(context.Background(), nil, keys, tt.files, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestProgressOnTerminalRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	p.startFile("/data/result.json", 1000, &countingReader{n: 500})
	p.tick(10, 1)
	p.finish(Summary{Counts: Counts{Posts: 10}, Files: 1, Published: 10, Stream: "posts.parsed"})
	s := out.String()
	if !strings.HasPrefix(s, "\r\x1b[K[") || !strings.Contains(s, " 50% result.json  10 posts") || !strings.Contains(s, "1 malformed") {
		t.Errorf("progress line = %q", s)
	}
	if !strings.HasSuffix(s, "\r\x1b[Kingested 10 posts (0 media without text) from 1 file(s) in 0s: 10 published to posts.parsed, 0 skipped (0 service, 0 empty), 0 malformed\n") {
		t.Errorf("summary = %q", s)
	}
}
