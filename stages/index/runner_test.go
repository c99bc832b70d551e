package index_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store"
)

// TestRunnerPublishesIndexed runs the stage in the real runner on Redis:
// every posts.enriched entry yields one posts.indexed with the spec's
// fields; the same entries again yield skipped_unchanged ones and no
// embedder call.
func TestRunnerPublishesIndexed(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	e := newEnv(t, local.NewEmbedder(48), nil)
	// The real definition, with the stage built on the test's stores.
	def := index.Definition()
	def.New = func(context.Context, pipeline.Deps) (pipeline.Stage, error) { return e.stage, nil }
	cfg := testenv.Config(t, prefix, "")
	set := index.DefaultConfig()
	set.Pool = config.Pool{Enabled: true, Workers: 2, BatchSize: 20, MaxInflight: 100}
	cfg.Stages.Set(index.Name, set)
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(def), Stages: []string{index.Name},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	evs := corpusEvents(t, 50)
	publish := func() {
		pipe := rdb.Pipeline()
		for _, ev := range evs {
			values, err := events.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			pipe.XAdd(context.Background(), &redis.XAddArgs{Stream: prefix + cfg.Streams.Enriched, Values: values})
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	indexed := func() []events.PostIndexed {
		msgs, err := rdb.XRange(context.Background(), prefix+cfg.Streams.Indexed, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]events.PostIndexed, len(msgs))
		for i, m := range msgs {
			if err := pipeline.DecodeEvent(m.Values, &out[i]); err != nil {
				t.Fatalf("decode posts.indexed: %v", err)
			}
		}
		return out
	}
	publish()
	testenv.WaitFor(t, "50 posts.indexed", 30*time.Second, func() bool { return len(indexed()) >= 50 })
	byPost := map[string]*events.PostEnriched{}
	for _, ev := range evs {
		byPost[ev.PostID] = ev
	}
	for _, out := range indexed() {
		ev := byPost[out.PostID]
		if ev == nil {
			t.Fatalf("posts.indexed for unknown post %s", out.PostID)
		}
		delete(byPost, out.PostID)
		if out.VectorID != store.PointID(ev.PostID) || out.Collection != "posts" || out.EmbeddingModel != local.EmbedderModel ||
			out.EmbeddingDim != 48 || out.SkippedUnchanged || out.IndexedAt.IsZero() || out.TraceID != ev.TraceID ||
			out.SchemaVersion != events.SchemaV1 || out.IdempotencyKey == "" {
			t.Errorf("posts.indexed = %+v", out)
		}
		if want := 2 + len(ev.Tags) + len(ev.Crawl); out.Graph["nodes"] != want || out.Graph["relationships"] != want-1 {
			t.Errorf("graph counts %v for %d tags and %d pages", out.Graph, len(ev.Tags), len(ev.Crawl))
		}
	}
	if len(byPost) != 0 {
		t.Errorf("%d posts without posts.indexed", len(byPost))
	}
	calls := e.emb.calls.Load()

	publish()
	testenv.WaitFor(t, "100 posts.indexed", 30*time.Second, func() bool { return len(indexed()) >= 100 })
	for _, out := range indexed()[50:] {
		if !out.SkippedUnchanged {
			t.Errorf("redelivered post %s not skipped_unchanged", out.PostID)
		}
	}
	if c := e.emb.calls.Load(); c != calls {
		t.Errorf("second delivery made %d embedder calls", c-calls)
	}
	if n := len(indexed()); n != 100 {
		t.Errorf("%d posts.indexed, want 100", n)
	}
}
