package tag_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/persist"
	"github.com/assistant-dev/assistant/stages/tag"
	"github.com/assistant-dev/assistant/store/postgres"
)

// TestTagFailsAParsedEntryWhoseTaggedOutputIsTooLarge runs tag and persist
// in one runner. A posts.parsed entry just under runner.max_entry_bytes is
// admitted, but its posts.tagged (the same text plus tags and provenance)
// would exceed the limit, so persist would refuse it permanently and no
// replay of it could help. The input fails in tag instead: it is in
// posts.parsed.dlq as permanent after one attempt, nothing is published for
// it and nothing reaches posts.tagged.dlq. A post of ordinary size in the
// same stream goes all the way to the table.
func TestTagFailsAParsedEntryWhoseTaggedOutputIsTooLarge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, dbURL)
	const limit = 8192
	cfg.Runner.MaxEntryBytes = limit
	cfg.Stages.Set(tag.Name, tag.DefaultConfig())
	cfg.Stages.Set(persist.Name, persist.DefaultConfig())
	keys := pipeline.NewKeys(cfg)

	parsed := func(id, text string) *events.PostParsed {
		return &events.PostParsed{
			Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "trace-" + id, OccurredAt: time.Now().UTC()},
			PostID:   id, ChannelID: "chan-1", Text: text, PostedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		}
	}
	size := func(ev *events.PostParsed) int {
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return len(events.DataField) + len(values[events.DataField].(string))
	}
	// The big post: words the local tagger finds keywords in, cut so that
	// the entry is 16 bytes under the limit.
	words := strings.Repeat("Компилятор Go ускоряет сборку больших проектов; ", 200)
	big := parsed("big", words)
	over := size(big) - (limit - 16)
	big.Text = words[:len(words)-over]
	for !strings.HasSuffix(big.Text, " ") { // whole words only, still under the limit
		big.Text = big.Text[:len(big.Text)-1]
	}
	bigSize := size(big)
	if bigSize > limit || bigSize < limit-64 {
		t.Fatalf("big entry is %d bytes, want just under %d", bigSize, limit)
	}
	small := parsed("small", "Компилятор Go ускоряет сборку больших проектов: новая версия вышла сегодня, подробности в блоге.")

	pipe := rdb.Pipeline()
	for _, ev := range []*events.PostParsed{big, small} {
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Parsed), Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	tagDef := tag.Definition()
	tagDef.New = func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
		return tag.NewWithTagger(deps, local.NewTagger())
	}
	r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(tagDef, persist.Definition()),
		Metrics: prometheus.NewRegistry(), Stages: []string{tag.Name, persist.Name},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	stored := func(id string) bool {
		var n int
		return pool.QueryRow(ctx, `SELECT count(*) FROM post_enrichment WHERE post_id = $1 AND kind = 'tags'`, id).Scan(&n) == nil && n == 1
	}
	pending := func(stream, group string) int64 {
		p, err := rdb.XPending(ctx, keys.Stream(stream), group).Result()
		if err != nil {
			return -1
		}
		return p.Count
	}
	xlen := func(key string) int64 {
		n, err := rdb.XLen(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testenv.WaitFor(t, "the small post stored and both entries handled", 30*time.Second, func() bool {
		return stored("small") && xlen(keys.DLQ(cfg.Streams.Parsed))+xlen(keys.DLQ(cfg.Streams.Tagged)) > 0 &&
			pending(cfg.Streams.Parsed, tag.Name) == 0 && pending(cfg.Streams.Tagged, persist.Name) == 0
	})

	// Entries ever added, not XLEN: the runner's trim (every 200 ms here)
	// may already have removed the small post's entry once persist
	// acknowledged it.
	info, err := rdb.XInfoStream(ctx, keys.Stream(cfg.Streams.Tagged)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if info.EntriesAdded != 1 {
		t.Errorf("posts.tagged got %d entries, want only the small post's", info.EntriesAdded)
	}
	if n := xlen(keys.DLQ(cfg.Streams.Tagged)); n != 0 {
		t.Errorf("posts.tagged.dlq holds %d entries: the oversized output reached persist", n)
	}
	if stored("big") {
		t.Error("the big post was stored")
	}
	dlq, err := rdb.XRange(ctx, keys.DLQ(cfg.Streams.Parsed), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(dlq) != 1 {
		t.Fatalf("posts.parsed.dlq holds %d entries, want the big post's", len(dlq))
	}
	d := pipeline.DecodeDLQEntry(dlq[0])
	if d.Stage != tag.Name || d.ErrorClass != pipeline.ClassPermanent || d.Attempts != 1 {
		t.Errorf("DLQ entry stage %q class %q attempts %d, want permanent in tag after 1 attempt", d.Stage, d.ErrorClass, d.Attempts)
	}
	wantPrefix := "output " + cfg.Streams.Tagged + " entry of "
	wantSuffix := " bytes exceeds runner.max_entry_bytes " + strconv.Itoa(limit)
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(d.Error, wantPrefix), wantSuffix))
	if !strings.HasPrefix(d.Error, wantPrefix) || !strings.HasSuffix(d.Error, wantSuffix) || err != nil || n <= limit {
		t.Errorf("DLQ reason %q, want %q<N>%q with N > %d", d.Error, wantPrefix, wantSuffix, limit)
	}
	var ev events.PostParsed
	if err := events.Decode(toValues(d.Data), &ev); err != nil || ev.PostID != "big" {
		t.Errorf("DLQ data is not the big posts.parsed entry (%v, post %q)", err, ev.PostID)
	}
	t.Logf("posts.parsed entry of %d bytes; %s", bigSize, d.Error)
	// Tag marks a post done only with its output: the big post is not.
	if marked, err := rdb.Keys(ctx, prefix+"tagging:processed:big:*").Result(); err != nil || len(marked) != 0 {
		t.Errorf("the big post is marked tagged: %v %v", marked, err)
	}
}

func toValues(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
