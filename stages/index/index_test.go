package index_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// countingEmbedder wraps an embedder and counts calls and texts: the
// embedding emulation of these tests.
type countingEmbedder struct {
	ai.Embedder
	calls, texts atomic.Int64
	fail         atomic.Int64 // fail this many calls with a temporary error
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls.Add(1)
	c.texts.Add(int64(len(texts)))
	if c.fail.Add(-1) >= 0 {
		return nil, &ai.APIError{Provider: "emulation", Status: 503, Message: "unavailable", Temporary: true}
	}
	return c.Embedder.Embed(ctx, texts)
}

type env struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	vec   *postgres.VectorStore
	graph *postgres.GraphStore
	emb   *countingEmbedder
	reg   *prometheus.Registry
	stage *index.Stage
}

func newEnv(t *testing.T, emb ai.Embedder, tweak func(*index.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	vec, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ctx: ctx, pool: pool, vec: vec, graph: postgres.NewGraphStore(pool),
		emb: &countingEmbedder{Embedder: emb}, reg: prometheus.NewRegistry()}
	e.stage = e.newStage(t, tweak)
	return e
}

func (e *env) newStage(t *testing.T, tweak func(*index.Options)) *index.Stage {
	t.Helper()
	opts := index.Options{
		Pool: e.pool, Vectors: e.vec, Graph: e.graph, Embedder: e.emb, Provider: "local",
		EmbedBatch: 32, EmbedBackoff: time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: e.reg,
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := index.New(e.ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var entrySeq atomic.Int64

func message(t testing.TB, ev events.Event) *pipeline.Message {
	t.Helper()
	values, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Message{Stream: "posts.enriched", ID: fmt.Sprintf("%d-%d", time.Now().UnixMilli(), entrySeq.Add(1)), Values: values, Attempt: 1}
}

// corpusEvents turns corpus posts into posts.enriched events; copies > 1
// repeats the sample under other post ids (the committed sample has 500).
func corpusEvents(t testing.TB, n int) []*events.PostEnriched {
	posts := testenv.SamplePosts(t, 0)
	var out []*events.PostEnriched
	for copyN := 0; len(out) < n; copyN++ {
		for _, p := range posts {
			if len(out) == n {
				break
			}
			posted, _ := time.Parse(time.RFC3339, p.Date)
			var tags []string
			for _, w := range strings.Fields(p.Text) {
				w = strings.Trim(w, ".,:;!?«»\"'()[]—")
				if utf8.RuneCountInString(w) >= 6 && len(tags) < 3 && !slices.Contains(tags, w) {
					tags = append(tags, w)
				}
			}
			ev := &events.PostEnriched{
				Envelope:  events.Envelope{SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("trace-%d", len(out)), OccurredAt: time.Now()},
				PostID:    fmt.Sprintf("%d:%d:%d", p.ChannelID, p.MessageID, copyN),
				ChannelID: fmt.Sprint(p.ChannelID), Text: p.Text, Tags: tags, TagsHash: events.TagsHash(tags),
				PostedAt: posted, URLs: []string{}, Crawl: []events.CrawlResult{},
			}
			if len(out)%10 == 0 {
				ev.URLs = []string{"https://example.org/a"}
				ev.Crawl = []events.CrawlResult{{URL: "https://example.org/a", FinalURL: "https://example.org/a", Status: 200,
					Title: "Пример", MarkdownExcerpt: "# Заголовок\n\nТекст страницы", WordCount: 3}}
			}
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) handle(t testing.TB, evs []*events.PostEnriched, batch int) []*pipeline.Message {
	t.Helper()
	var all []*pipeline.Message
	for start := 0; start < len(evs); start += batch {
		var msgs []*pipeline.Message
		for _, ev := range evs[start:min(start+batch, len(evs))] {
			msgs = append(msgs, message(t, ev))
		}
		if err := e.stage.Handle(e.ctx, msgs); err != nil {
			t.Fatalf("handle: %v", err)
		}
		for _, m := range msgs {
			if m.Err() != nil {
				t.Fatalf("message failed: %v", m.Err())
			}
		}
		all = append(all, msgs...)
	}
	return all
}

func (e *env) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) metric(t testing.TB, name string, labels map[string]string) float64 {
	return testenv.MetricValue(t, e.reg, name, labels)
}

// TestIndexCorpusPostgres is the acceptance test of the embedded backends
// against the real database: 1,000 corpus posts (the 500-post sample, twice
// under other ids) indexed; each with one vector of the provider's size and
// its graph rows; a redelivery makes no embedder call; a retag leaves
// exactly the new TAGGED_AS edges.
func TestIndexCorpusPostgres(t *testing.T) {
	t.Parallel()
	e := newEnv(t, local.NewEmbedder(96), nil)
	evs := corpusEvents(t, 1000)
	e.handle(t, evs, 100)

	if n := e.count(t, `SELECT count(*) FROM vectors WHERE collection = 'posts' AND array_length(embedding, 1) = 96`); n != 1000 {
		t.Errorf("vectors of size 96: %d, want 1000", n)
	}
	if n := e.count(t, `SELECT count(DISTINCT post_id) FROM vectors`); n != 1000 {
		t.Errorf("posts with a vector: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM vector_collections WHERE name = 'posts' AND dim = 96 AND model = $1`, local.EmbedderModel); n != 1 {
		t.Errorf("collection rows: %d", n)
	}
	wantEdges, wantLinks := 0, 0
	for _, ev := range evs {
		wantEdges += len(ev.Tags)
		wantLinks += len(ev.Crawl)
	}
	if n := e.count(t, `SELECT count(*) FROM graph_posts WHERE channel_id IS NOT NULL AND expires_at > posted_at`); n != 1000 {
		t.Errorf("graph posts: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM post_tags`); n != wantEdges {
		t.Errorf("TAGGED_AS edges: %d, want %d", n, wantEdges)
	}
	if n := e.count(t, `SELECT count(*) FROM post_links`); n != wantLinks {
		t.Errorf("REFERS_TO edges: %d, want %d", n, wantLinks)
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed' AND graph_status = 'completed'
		AND attempts = 1 AND index_hash IS NOT NULL AND vector_id IS NOT NULL AND error IS NULL`); n != 1000 {
		t.Errorf("completed status rows: %d", n)
	}
	// Each point's payload: integer expires_at = posted_at + 90 days.
	if n := e.count(t, `SELECT count(*) FROM vectors WHERE expires_at - posted_at = 90*86400 AND posted_at > 0`); n != 1000 {
		t.Errorf("points with expires_at = posted_at + retention: %d", n)
	}
	calls := e.emb.calls.Load()
	if calls != 40 { // 10 handles of 100 texts, in calls of at most 32: 4 calls each
		t.Errorf("embedder calls: %d, want 40", calls)
	}
	if texts := e.emb.texts.Load(); texts != 1000 {
		t.Errorf("embedded %d texts, want 1000", texts)
	}

	// Redelivery of the same content: no embedder call at all.
	e.handle(t, evs, 100)
	if c := e.emb.calls.Load(); c != calls {
		t.Errorf("second pass made %d embedder calls, want 0", c-calls)
	}
	if v := e.metric(t, "indexing_processed_total", map[string]string{"status": "skipped_unchanged"}); v != 1000 {
		t.Errorf("skipped_unchanged = %v", v)
	}
	if n := e.count(t, `SELECT count(*) FROM vectors`); n != 1000 {
		t.Errorf("vectors after redelivery: %d", n)
	}

	// A reindex entry of unchanged content is embedded and written again
	// (its vector was lost), with the stored expires_at it carries.
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM vectors WHERE post_id = $1`, evs[3].PostID); err != nil {
		t.Fatal(err)
	}
	re := *evs[3]
	re.Reindex, re.ExpiresAt = true, re.PostedAt.Add(1000*time.Hour)
	e.handle(t, []*events.PostEnriched{&re}, 1)
	if c := e.emb.calls.Load(); c != calls+1 {
		t.Errorf("reindex entry made %d embedder calls, want 1", c-calls)
	}
	calls = e.emb.calls.Load()
	if n := e.count(t, `SELECT count(*) FROM vectors WHERE post_id = $1 AND expires_at - posted_at = 1000*3600`, re.PostID); n != 1 {
		t.Errorf("vectors of the reindexed post with its stored expires_at: %d, want 1", n)
	}

	// A retag: exactly the new edges, re-embedded (one text).
	ev := *evs[7]
	ev.Tags = []string{"новый тег", ev.Tags[0]}
	ev.TagsHash = events.TagsHash(ev.Tags)
	e.handle(t, []*events.PostEnriched{&ev}, 1)
	rows, err := e.pool.Query(e.ctx, `SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag`, ev.PostID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		got = append(got, s)
	}
	want := slices.Clone(ev.Tags)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("TAGGED_AS of the retagged post = %v, want %v", got, want)
	}
	if texts := e.emb.texts.Load(); texts != 1002 {
		t.Errorf("texts embedded after retag: %d, want 1002 (the reindex entry, then the retag)", texts)
	}
	var tags []string
	if err := e.pool.QueryRow(e.ctx, `SELECT tags FROM vectors WHERE post_id = $1`, ev.PostID).Scan(&tags); err != nil || !slices.Equal(tags, ev.Tags) {
		t.Errorf("point payload tags = %v %v", tags, err)
	}
	if n := e.count(t, `SELECT attempts FROM indexing_status WHERE post_id = $1`, ev.PostID); n != 2 {
		t.Errorf("attempts of the retagged post = %d", n)
	}
}

// TestEmbeddingText checks the text that is embedded and hashed.
func TestEmbeddingText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("я", 2500)
	cases := []struct {
		name string
		ev   events.PostEnriched
		want string
	}{
		{"collapse and order", events.PostEnriched{Text: "  Привет,\n\tмир  ", Tags: []string{"мир", "Привет"},
			Crawl: []events.CrawlResult{{MarkdownExcerpt: "# Page\n\nbody"}, {Error: "timeout", MarkdownExcerpt: "ignored"}}},
			"Привет, мир # Page body мир, Привет"},
		{"NFC", events.PostEnriched{Text: "е\u0308ж"}, "ёж"},
		{"cut to 2000 characters", events.PostEnriched{Text: long}, strings.Repeat("я", 2000)},
		{"page cut to 1500", events.PostEnriched{Text: "a", Crawl: []events.CrawlResult{{MarkdownExcerpt: long}}}, "a " + strings.Repeat("я", 1500)},
	}
	for _, c := range cases {
		if got := index.EmbeddingText(&c.ev); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, truncate(got), truncate(c.want))
		}
	}
	if index.IndexHash("x", "m1") == index.IndexHash("x", "m2") || index.IndexHash("x", "m1") == index.IndexHash("y", "m1") {
		t.Error("index hash ignores text or model")
	}
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// TestIndexStoreDown: a vector store that fails fails the batch
// transiently (no message is failed on its own, so nothing goes to the DLQ
// while the runner retries), records the error, and Check names the store.
func TestIndexStoreDown(t *testing.T) {
	t.Parallel()
	down := &flakyVectors{err: errors.New("connection refused")}
	e := newEnv(t, local.NewEmbedder(16), func(o *index.Options) {})
	down.VectorStore = e.vec
	e.stage = e.newStage(t, func(o *index.Options) { o.Vectors = down })
	evs := corpusEvents(t, 5)
	msgs := []*pipeline.Message{}
	for _, ev := range evs {
		msgs = append(msgs, message(t, ev))
	}
	err := e.stage.Handle(e.ctx, msgs)
	if err == nil || pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "vector store") {
		t.Fatalf("handle with the store down: %v, want a transient vector store error", err)
	}
	for _, m := range msgs {
		if m.Err() != nil {
			t.Errorf("message failed on its own: %v", m.Err())
		}
	}
	if err := e.stage.Check(e.ctx); err == nil || !strings.Contains(err.Error(), "vector store") {
		t.Errorf("check = %v, want it to name the vector store", err)
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'failed' AND error LIKE '%connection refused%'`); n != 5 {
		t.Errorf("failed status rows: %d", n)
	}
	// The store comes back: the retried batch goes through.
	down.mu.Lock()
	down.err = nil
	down.mu.Unlock()
	for _, m := range msgs {
		m.Fail(nil)
	}
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed' AND attempts = 2 AND error IS NULL`); n != 5 {
		t.Errorf("completed after the store came back: %d", n)
	}
	if err := e.stage.Check(e.ctx); err != nil {
		t.Errorf("check after recovery: %v", err)
	}
}

type flakyVectors struct {
	store.VectorStore
	mu  sync.Mutex
	err error
}

func (f *flakyVectors) Upsert(ctx context.Context, c string, p []store.Point) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	return f.VectorStore.Upsert(ctx, c, p)
}

func (f *flakyVectors) Check(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// TestIndexEmbedderRetries: temporary embedder failures are retried inside
// the stage and counted in embedding_requests_total.
func TestIndexEmbedderRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, local.NewEmbedder(16), nil)
	e.emb.fail.Store(2)
	e.handle(t, corpusEvents(t, 3), 3)
	if v := e.metric(t, "embedding_requests_total", map[string]string{"provider": "local", "model": local.EmbedderModel, "status": "error"}); v != 2 {
		t.Errorf("errors counted: %v", v)
	}
	if v := e.metric(t, "embedding_requests_total", map[string]string{"provider": "local", "model": local.EmbedderModel, "status": "success"}); v != 1 {
		t.Errorf("successes counted: %v", v)
	}
}

// TestIndexUndecodable: a broken entry fails alone and permanently.
func TestIndexUndecodable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, local.NewEmbedder(16), nil)
	good := message(t, corpusEvents(t, 1)[0])
	bad := &pipeline.Message{Stream: "posts.enriched", ID: "1-1", Values: map[string]any{"data": `{"schema_version":"v1"`}, Attempt: 1}
	if err := e.stage.Handle(e.ctx, []*pipeline.Message{bad, good}); err != nil {
		t.Fatal(err)
	}
	if !pipeline.IsPermanent(bad.Err()) || good.Err() != nil {
		t.Errorf("bad: %v, good: %v", bad.Err(), good.Err())
	}
	if n := e.count(t, `SELECT count(*) FROM vectors`); n != 1 {
		t.Errorf("vectors: %d", n)
	}
}

// TestGigaChatEmbeddings drives the stage through the GigaChat client
// against the GigaChat emulator (aitest, an httptest server reproducing the
// API): batched calls, the 1024-d size taken from the answer, 429 and 5xx
// retried; then a "second run" whose model answers 2560-d vectors is
// refused with a clear error instead of mixing sizes.
func TestGigaChatEmbeddings(t *testing.T) {
	t.Parallel()
	g := aitest.NewGigaChat(t, aitest.Config{EmbeddingDim: 1024, Script: func(kind string, seq int) *aitest.Failure {
		switch {
		case kind == aitest.KindEmbed && seq == 1:
			return &aitest.Failure{Status: 429, RetryAfter: "0"}
		case kind == aitest.KindEmbed && seq == 2:
			return &aitest.Failure{Status: 503}
		}
		return nil
	}})
	gcfg := config.Default().AI.GigaChat
	gcfg.APIKey, gcfg.BaseURL, gcfg.AuthURL = "test-key", g.BaseURL(), g.AuthURL()
	gcfg.EmbeddingDim = 1024
	client, err := gigachat.New(gcfg, nil, gigachat.WithHTTPClient(g.Server.Client()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, client.Embedder(), func(o *index.Options) { o.Provider = "gigachat" })
	e.handle(t, corpusEvents(t, 40), 40)
	if n := e.count(t, `SELECT count(*) FROM vectors WHERE array_length(embedding, 1) = 1024`); n != 40 {
		t.Errorf("1024-d vectors: %d", n)
	}
	if n := e.count(t, `SELECT dim FROM vector_collections WHERE name = 'posts'`); n != 1024 {
		t.Errorf("collection dim %d", n)
	}
	// 40 texts: stage batches of 32 → client calls of 16: 16+16, 8 = 3 answered calls, plus the 429 and the 503.
	if n := g.Requests(aitest.KindEmbed); n != 5 {
		t.Errorf("embedding requests: %d, want 5 (3 batches + 2 retried failures)", n)
	}

	// Second run: the account's model now answers 2560-d vectors.
	g2 := aitest.NewGigaChat(t, aitest.Config{EmbeddingDim: 2560})
	gcfg.BaseURL, gcfg.AuthURL, gcfg.EmbeddingDim = g2.BaseURL(), g2.AuthURL(), 2560
	client2, err := gigachat.New(gcfg, nil, gigachat.WithHTTPClient(g2.Server.Client()))
	if err != nil {
		t.Fatal(err)
	}
	e.emb = &countingEmbedder{Embedder: client2.Embedder()}
	stage2 := e.newStage(t, nil)
	ev := corpusEvents(t, 41)[40]
	err = stage2.Handle(e.ctx, []*pipeline.Message{message(t, ev)})
	if !errors.Is(err, store.ErrCollectionMismatch) || !strings.Contains(err.Error(), "2560") || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("second run with 2560-d vectors: %v, want a collection mismatch naming both sizes", err)
	}
	if err := stage2.Check(e.ctx); !errors.Is(err, store.ErrCollectionMismatch) {
		t.Errorf("check = %v, want the mismatch (stage not ready)", err)
	}
	if n := e.count(t, `SELECT count(*) FROM vectors WHERE array_length(embedding, 1) <> 1024`); n != 0 {
		t.Errorf("%d vectors of another size were stored", n)
	}
}

// TestIndexStoreOutageHeld: with store_wait, a batch whose store goes down
// waits for it (its check failing) and is written once it answers, in the
// same Handle: a short outage uses up none of the entries' attempts.
func TestIndexStoreOutageHeld(t *testing.T) {
	t.Parallel()
	down := &flakyVectors{err: errors.New("connection refused")}
	e := newEnv(t, local.NewEmbedder(16), nil)
	down.VectorStore = e.vec
	e.stage = e.newStage(t, func(o *index.Options) { o.Vectors, o.StoreWait = down, 10*time.Second })
	go func() {
		time.Sleep(300 * time.Millisecond)
		down.mu.Lock()
		down.err = nil
		down.mu.Unlock()
	}()
	start := time.Now()
	e.handle(t, corpusEvents(t, 4), 4)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("handled in %s, before the store came back", d)
	}
	if n := e.count(t, `SELECT count(*) FROM vectors`); n != 4 {
		t.Errorf("vectors: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed' AND attempts = 1`); n != 4 {
		t.Errorf("completed at the first attempt: %d", n)
	}
}
