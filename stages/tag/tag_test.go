package tag_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/tag"
)

// countingTagger counts calls to the tagger behind the stage.
type countingTagger struct {
	ai.Tagger
	calls atomic.Int64
}

func (c *countingTagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	c.calls.Add(1)
	return c.Tagger.Tag(ctx, req)
}

// registryWith is an isolated registry holding the real tag stage, with the
// tagger chosen by the test instead of by configuration.
func registryWith(tagger ai.Tagger) *pipeline.Registry {
	def := tag.Definition()
	def.New = func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
		return tag.NewWithTagger(deps, tagger)
	}
	return pipeline.MustRegistry(def)
}

// TestTagStageKeepsChannelStatisticsInRedis: with ai.local.channel_stats
// on, the stage built from configuration gives the local tagger the Redis table of per-channel
// document frequencies, so it fills as posts pass.
func TestTagStageKeepsChannelStatisticsInRedis(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	cfg.Stages.Set(tag.Name, tag.DefaultConfig())
	cfg.AI.Tagger, cfg.AI.Embedder = "local", "local"
	cfg.AI.Local.ChannelStats = true // off by default (reproducible tags)
	// The real definition: the tagger chain built from configuration, as
	// `assistant run` builds it.
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(tag.Definition()), Metrics: prometheus.NewRegistry(),
		Stages: []string{tag.Name},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e := &env{rdb: rdb, prefix: prefix, cfg: cfg}
	var events []*events.PostParsed
	channel, long := "", 0
	for i, p := range testenv.SamplePosts(t, 0) {
		if p.Channel != "Банкста" {
			continue
		}
		ev := parsedEvent(p, i)
		channel = ev.ChannelID
		events = append(events, ev)
		if len([]rune(p.Text)) >= tag.DefaultConfig().MinChars {
			long++
		}
	}
	e.publish(t, events...)
	testenv.WaitFor(t, "the channel's posts tagged", 60*time.Second, func() bool { return len(e.tagged(t)) == len(events) })
	key := prefix + "tagger:df:" + channel
	docs, err := rdb.HGet(context.Background(), key, "").Int()
	if err != nil || docs != long {
		t.Fatalf("%s counts %d posts (%v), want the %d tagged by the local tagger", key, docs, err, long)
	}
	if n := rdb.HLen(context.Background(), key).Val(); n < 200 {
		t.Errorf("%s holds %d terms, want the channel's vocabulary", key, n)
	}
}

type env struct {
	rdb    *redis.Client
	prefix string
	cfg    *config.Config
	set    *tag.Config // the stage's settings block, stages.tag
	reg    *prometheus.Registry
	done   chan error
	cancel context.CancelFunc
}

func startStage(t *testing.T, tagger ai.Tagger, tweak func(*config.Config)) *env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return startStageWithRedis(t, rdb, prefix, tagger, tweak)
}

// startStageWithRedis is startStage on a Redis prefix the test set up.
func startStageWithRedis(t *testing.T, rdb *redis.Client, prefix string, tagger ai.Tagger, tweak func(*config.Config)) *env {
	t.Helper()
	cfg := testenv.Config(t, prefix, "")
	set := tag.DefaultConfig()
	cfg.Stages.Set(tag.Name, set)
	if tweak != nil {
		tweak(cfg)
	}
	e := &env{rdb: rdb, prefix: prefix, cfg: cfg, set: set, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	e.start(t, tagger)
	return e
}

// start runs a runner (with a fresh stage instance and cache) on the env.
func (e *env) start(t *testing.T, tagger ai.Tagger) {
	t.Helper()
	e.reg = prometheus.NewRegistry()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: e.cfg, Redis: e.rdb, Registry: registryWith(tagger), Metrics: e.reg, Stages: []string{tag.Name},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	done := make(chan error, 1)
	e.done = done
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	if err := <-e.done; err != nil {
		t.Fatalf("runner: %v", err)
	}
	e.done <- nil
}

func parsedEvent(p testenv.CorpusPost, i int) *events.PostParsed {
	posted, _ := time.Parse(time.RFC3339, p.Date)
	return &events.PostParsed{
		Envelope:  events.Envelope{SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("trace-%d", i), OccurredAt: time.Now()},
		PostID:    fmt.Sprintf("%d:%d", p.ChannelID, p.MessageID),
		ChannelID: fmt.Sprint(p.ChannelID), Text: p.Text, PostedAt: posted,
		TGChannelID: p.ChannelID, TGMessageID: p.MessageID,
	}
}

func (e *env) publish(t *testing.T, evs ...*events.PostParsed) {
	t.Helper()
	ctx := context.Background()
	pipe := e.rdb.Pipeline()
	for _, ev := range evs {
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: e.prefix + e.cfg.Streams.Parsed, Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tagged(t *testing.T) []events.PostTagged {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.prefix+e.cfg.Streams.Tagged, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.PostTagged, len(msgs))
	for i, m := range msgs {
		if err := events.Decode(m.Values, &out[i]); err != nil {
			t.Fatalf("decode posts.tagged: %v", err)
		}
	}
	return out
}

func (e *env) drained(t *testing.T) bool {
	t.Helper()
	p, err := e.rdb.XPending(context.Background(), e.prefix+e.cfg.Streams.Parsed, tag.Name).Result()
	if err != nil {
		return false
	}
	groups, err := e.rdb.XInfoGroups(context.Background(), e.prefix+e.cfg.Streams.Parsed).Result()
	if err != nil || p.Count != 0 {
		return false
	}
	for _, g := range groups {
		if g.Name == tag.Name {
			return g.Lag == 0
		}
	}
	return false
}

// grounded reports whether tag occurs in text, case- and ё-insensitively,
// with whitespace collapsed (the validator's rule).
func grounded(text, tag string) bool {
	norm := func(s string) string { return ai.FoldTag(strings.Join(strings.Fields(s), " ")) }
	return tag != "" && strings.Contains(norm(text), norm(tag))
}

func TestTagStageTagsRealPostsWithTheLocalTagger(t *testing.T) {
	t.Parallel()
	counting := &countingTagger{Tagger: local.NewTagger()}
	e := startStage(t, counting, nil)
	posts := testenv.SamplePosts(t, 300)
	evs := make([]*events.PostParsed, len(posts))
	long := 0
	for i, p := range posts {
		evs[i] = parsedEvent(p, i)
		if len([]rune(p.Text)) >= e.set.MinChars {
			long++
		}
	}
	e.publish(t, evs...)
	testenv.WaitFor(t, "300 posts tagged", 60*time.Second, func() bool { return len(e.tagged(t)) == len(evs) && e.drained(t) })

	// The same post delivered again: acknowledged, nothing published.
	e.publish(t, evs[0])
	testenv.WaitFor(t, "the duplicate handled", 10*time.Second, func() bool { return e.drained(t) })

	out := e.tagged(t)
	if len(out) != len(evs) {
		t.Fatalf("%d posts.tagged for %d posts (a duplicate produced output)", len(out), len(evs))
	}
	byID := map[string]events.PostTagged{}
	for _, ev := range out {
		byID[ev.PostID] = ev
	}
	withThree := 0
	for i, in := range evs {
		got, ok := byID[in.PostID]
		if !ok {
			t.Fatalf("post %s has no posts.tagged", in.PostID)
		}
		if got.TraceID != in.TraceID || got.Text != in.Text || got.ChannelID != in.ChannelID || !got.PostedAt.Equal(in.PostedAt) {
			t.Fatalf("post %d: envelope or payload not carried over: %+v", i, got)
		}
		if got.TagsHash != events.TagsHash(got.Tags) || got.IdempotencyKey != in.PostID+":tagged:"+got.TagsHash {
			t.Fatalf("post %d: tags_hash/idempotency_key wrong: %+v", i, got)
		}
		for _, tg := range got.Tags {
			if !grounded(in.Text, tg) {
				t.Errorf("post %d: tag %q is not in the text", i, tg)
			}
		}
		short := len([]rune(in.Text)) < e.set.MinChars
		if short && (len(got.Tags) != 0 || got.Provider != "rule") {
			t.Errorf("short post %d got tags %v from %s, want empty tags by rule", i, got.Tags, got.Provider)
		}
		if !short && len(got.Tags) >= 3 {
			withThree++
		}
	}
	if int(counting.calls.Load()) != long {
		t.Errorf("tagger called %d times, want once per long post (%d): short posts must not reach it", counting.calls.Load(), long)
	}
	if share := float64(withThree) / float64(long); share < 0.9 {
		t.Errorf("only %.0f%% of long posts got >= 3 tags", 100*share)
	}
	if got := testenv.MetricValue(t, e.reg, "tagging_processed_total", map[string]string{"status": "dedup"}); got != 1 {
		t.Errorf("tagging_processed_total{dedup} = %v, want 1", got)
	}
	if got := testenv.MetricValue(t, e.reg, "tagging_cache_size", nil); int(got) != len(evs) {
		t.Errorf("tagging_cache_size = %v, want %d", got, len(evs))
	}

	// A fresh process (empty cache) finds the Redis mark instead.
	e.stop(t)
	e.start(t, counting)
	e.publish(t, evs[1])
	testenv.WaitFor(t, "the duplicate seen by a fresh process", 10*time.Second, func() bool {
		return testenv.MetricValue(t, e.reg, "tagging_redis_dedup_hits_total", nil) == 1 && e.drained(t)
	})
	if len(e.tagged(t)) != len(evs) {
		t.Fatal("a post already tagged was tagged again after a restart")
	}
}

// TestTagStagePausesDuringAnOutageAndTagsAfterIt: a provider answering 503
// is an outage, not the posts' fault (issue 21): the stage pauses without
// spending attempts — max_attempts is 3 and the outage outlasts many tries
// — no post is dead-lettered or published with empty tags, no dedup mark
// is set, and every post is tagged once the provider answers again.
func TestTagStagePausesDuringAnOutageAndTagsAfterIt(t *testing.T) {
	t.Parallel()
	var outage atomic.Bool
	outage.Store(true)
	var calls atomic.Int64
	emu := aitest.NewGigaChat(t, aitest.Config{
		Script: func(kind string, _ int) *aitest.Failure {
			if kind == aitest.KindChat && outage.Load() {
				calls.Add(1)
				return &aitest.Failure{Status: 503}
			}
			return nil
		},
		Chat: firstWordsTagger,
	})
	gcfg := config.Default().AI.GigaChat
	gcfg.APIKey, gcfg.BaseURL, gcfg.AuthURL = "test-key", emu.BaseURL(), emu.AuthURL()
	gcfg.BreakerFailures = 1000 // this test is about the stage, not the breaker
	client, err := gigachat.New(gcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := startStage(t, client.Tagger(), func(c *config.Config) {
		c.Runner.MaxAttempts = 3
		c.Runner.RetryInitialBackoff = 20 * time.Millisecond
		c.Runner.RetryMaxBackoff = 100 * time.Millisecond
	})
	posts := testenv.SamplePosts(t, 40)
	var evs []*events.PostParsed
	for i, p := range posts {
		if len([]rune(p.Text)) >= 80 && len(evs) < 5 {
			evs = append(evs, parsedEvent(p, i))
		}
	}
	e.publish(t, evs...)
	dlq := e.prefix + e.cfg.Streams.Parsed + e.cfg.Streams.DLQSuffix
	testenv.WaitFor(t, "many more tries than max_attempts", 20*time.Second, func() bool {
		return calls.Load() >= int64(4*len(evs))
	})
	if n := e.rdb.XLen(context.Background(), dlq).Val(); n != 0 {
		t.Fatalf("%d posts dead-lettered by a provider outage", n)
	}
	if out := e.tagged(t); len(out) != 0 {
		t.Fatalf("%d posts.tagged published during the outage (empty tags for failures?)", len(out))
	}
	for _, ev := range evs {
		if n := e.rdb.Exists(context.Background(), e.prefix+"tagging:processed:"+ev.PostID+":"+events.ContentHash(ev.Text)).Val(); n != 0 {
			t.Fatalf("post %s marked as tagged although tagging failed", ev.PostID)
		}
	}

	outage.Store(false)
	testenv.WaitFor(t, "every post tagged after the outage", 20*time.Second, func() bool { return len(e.tagged(t)) == len(evs) && e.drained(t) })
	for _, got := range e.tagged(t) {
		if len(got.Tags) == 0 || got.Provider != gigachat.ProviderName {
			t.Errorf("post %s: tags %v from %q after recovery", got.PostID, got.Tags, got.Provider)
		}
	}
	if n := e.rdb.XLen(context.Background(), dlq).Val(); n != 0 {
		t.Errorf("%d entries in the DLQ", n)
	}
}

// firstWordsTagger answers like a model that follows the prompt: up to three
// plain words of the post, as a JSON array.
func firstWordsTagger(_ string, messages []aitest.Message) string {
	var tags []string
	for _, w := range strings.Fields(messages[len(messages)-1].Content) {
		if len([]rune(w)) >= 5 && strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
			tags = append(tags, w)
		}
		if len(tags) == 3 {
			break
		}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// TestTagStageTreatsAnAnswerWithoutJSONAsAFailure proves that a model
// answering prose instead of a JSON array is retried and then dead-lettered
// with a reason quoting the answer — never published as empty tags — while
// a proper "[]" answer is published as empty tags.
func TestTagStageTreatsAnAnswerWithoutJSONAsAFailure(t *testing.T) {
	t.Parallel()
	emu := aitest.NewGigaChat(t, aitest.Config{Chat: func(_ string, messages []aitest.Message) string {
		if strings.Contains(messages[len(messages)-1].Content, "EMPTY") {
			return "[]"
		}
		return "Конечно! Вот ключевые слова: Сбер, ИИ."
	}})
	gcfg := config.Default().AI.GigaChat
	gcfg.APIKey, gcfg.BaseURL, gcfg.AuthURL = "test-key", emu.BaseURL(), emu.AuthURL()
	client, err := gigachat.New(gcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := startStage(t, client.Tagger(), func(c *config.Config) { c.Runner.MaxAttempts = 2 })
	long := strings.Repeat("Сбер представил новую модель ИИ для бизнеса. ", 3)
	prose := &events.PostParsed{Envelope: events.Envelope{SchemaVersion: "v1", TraceID: "tr-prose"},
		PostID: "prose", ChannelID: "c", Text: long, PostedAt: time.Now()}
	empty := &events.PostParsed{Envelope: events.Envelope{SchemaVersion: "v1", TraceID: "tr-empty"},
		PostID: "empty", ChannelID: "c", Text: "EMPTY " + long, PostedAt: time.Now()}
	e.publish(t, prose, empty)
	dlq := e.prefix + e.cfg.Streams.Parsed + e.cfg.Streams.DLQSuffix
	testenv.WaitFor(t, "the prose answer dead-lettered", 10*time.Second, func() bool {
		return e.rdb.XLen(context.Background(), dlq).Val() == 1 && e.drained(t)
	})
	entry := e.rdb.XRange(context.Background(), dlq, "-", "+").Val()[0].Values
	if reason := entry["error"].(string); !strings.Contains(reason, "without a JSON array") || !strings.Contains(reason, "Вот ключевые слова") {
		t.Errorf("DLQ reason %q does not say what the model answered", reason)
	}
	if entry["error_class"] != "exhausted" || entry["trace_id"] != "tr-prose" {
		t.Errorf("DLQ entry %v: want exhausted with the post's trace id", entry)
	}
	out := e.tagged(t)
	if len(out) != 1 || out[0].PostID != "empty" || len(out[0].Tags) != 0 {
		t.Fatalf("posts.tagged = %+v, want only the post answered with [] (empty tags)", out)
	}
}

// recordingTagger records what the stage asks; whole says whether it reads
// the whole text (ai.WholeTextReader), as the local tagger does.
type recordingTagger struct {
	whole bool
	mu    sync.Mutex
	reqs  []ai.TagRequest
}

func (r *recordingTagger) Tag(_ context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return ai.TagResponse{Raw: "[]", Provider: "rec", Model: "rec"}, nil
}

func (r *recordingTagger) ReadsWholeText() bool { return r.whole }

func (r *recordingTagger) requests() []ai.TagRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ai.TagRequest(nil), r.reqs...)
}

// TestTagStageCutsTheInputOnlyForTaggersThatPayForIt: max_input_chars cuts
// what a model is shown; a tagger that reads the whole text gets all of it.
// Both get the post's channel.
func TestTagStageCutsTheInputOnlyForTaggersThatPayForIt(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("Сбер представил новую модель ИИ для бизнеса. ", 10)
	for _, whole := range []bool{false, true} {
		rec := &recordingTagger{whole: whole}
		e := startStage(t, rec, func(c *config.Config) {
			set := tag.DefaultConfig()
			set.MaxInputChars = 100
			c.Stages.Set(tag.Name, set)
		})
		e.publish(t, &events.PostParsed{Envelope: events.Envelope{SchemaVersion: "v1", TraceID: "tr"},
			PostID: "p", ChannelID: "-1001", Text: text, PostedAt: time.Now()})
		testenv.WaitFor(t, "the tagger called", 10*time.Second, func() bool { return len(rec.requests()) > 0 })
		req := rec.requests()[0]
		if want := ai.CutInput(text, 100); !whole && req.Text != want {
			t.Errorf("model tagger got %d runes, want the %d-rune cut", utf8.RuneCountInString(req.Text), utf8.RuneCountInString(want))
		}
		if whole && req.Text != text {
			t.Errorf("whole-text tagger got %d runes, want all %d", utf8.RuneCountInString(req.Text), utf8.RuneCountInString(text))
		}
		if req.Channel != "-1001" {
			t.Errorf("channel %q, want -1001", req.Channel)
		}
	}
}
