package bench_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// threadCPU is the CPU time of the calling OS thread.
func threadCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPostComponents times, on the posts of the Telegram sample, the
// pieces of a post's way through tag and persist besides the tagger: the
// events codec, ValidateTags of the local tagger's answers, and the tagger
// itself for scale. cpu-µs/op is the thread's CPU time, steadier than ns/op
// on a shared machine (docs/llm-providers.md, "The event codec ...").
func BenchmarkPostComponents(b *testing.B) {
	ctx := context.Background()
	posts, err := benchkit.LoadCorpus(ctx, testenv.SamplePath(), 500)
	if err != nil {
		b.Fatal(err)
	}
	tagger := local.NewTagger(local.WithoutChannelStats())
	n := len(posts)
	parsed, tagged := make([]map[string]any, n), make([]map[string]any, n)
	tev, raws := make([]*events.PostTagged, n), make([]string, n)
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	for i, p := range posts {
		p.OccurredAt, p.ContentHash = now, events.ContentHash(p.Text)
		resp, err := tagger.Tag(ctx, ai.TagRequest{Text: p.Text, MaxTags: 5, Channel: p.ChannelID})
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = resp.Raw
		tags := ai.ValidateTags(resp.Raw, p.Text, 5).Tags
		if tags == nil {
			tags = []string{}
		}
		t := &events.PostTagged{
			Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "trace-" + p.PostID, OccurredAt: now},
			PostID:   p.PostID, ChannelID: p.ChannelID, Text: p.Text, URLs: []string{}, PostedAt: p.PostedAt,
			ContentHash: p.ContentHash, Tags: tags, TagsHash: events.TagsHash(tags), Provider: "local",
			Model: resp.Model, PromptVersion: ai.PromptVersion, Trigger: events.TriggerInitial, ReceivedAt: now,
			Metadata: map[string]string{"model": resp.Model, "prompt_version": ai.PromptVersion}, ChannelTitle: p.ChannelTitle,
		}
		t.IdempotencyKey = events.TaggedIdempotencyKey(t.PostID, t.TagsHash)
		tev[i] = t
		if parsed[i], err = events.Encode(p); err != nil {
			b.Fatal(err)
		}
		if tagged[i], err = events.Encode(t); err != nil {
			b.Fatal(err)
		}
	}
	components := []struct {
		name string
		call func(i int) error
	}{
		{"decode-parsed", func(i int) error { return events.Decode(parsed[i], new(events.PostParsed)) }},
		{"decode-tagged", func(i int) error { return events.Decode(tagged[i], new(events.PostTagged)) }},
		{"encode-parsed", func(i int) error { _, err := events.Encode(posts[i]); return err }},
		{"encode-tagged", func(i int) error { _, err := events.Encode(tev[i]); return err }},
		{"validate-tags", func(i int) error { ai.ValidateTags(raws[i], posts[i].Text, 5); return nil }},
		{"local-tagger", func(i int) error {
			_, err := tagger.Tag(ctx, ai.TagRequest{Text: posts[i].Text, MaxTags: 5, Channel: posts[i].ChannelID})
			return err
		}},
	}
	for _, c := range components {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			start, calls := threadCPU(b), 0
			for i := 0; b.Loop(); i++ {
				if err := c.call(i % n); err != nil {
					b.Fatal(err)
				}
				calls++
			}
			b.ReportMetric(float64(threadCPU(b)-start)/float64(time.Microsecond)/float64(calls), "cpu-µs/op")
		})
	}
}
