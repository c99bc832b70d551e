package enrich_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/crawltest"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/enrich"
	"github.com/assistant-dev/assistant/store/postgres"
)

// site serves the saved article pages of crawl/testdata and a few failing
// URLs; it counts requests per path.
type site struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	flaky atomic.Int64 // /flaky answers 503 while this is > 0, counting down
}

func (s *site) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/robots.txt":
			http.NotFound(w, r)
		case strings.HasSuffix(r.URL.Path, ".html"):
			b, err := os.ReadFile("../../crawl/testdata/pages" + r.URL.Path)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(b)
		case r.URL.Path == "/report.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = w.Write([]byte("%PDF-1.7"))
		case r.URL.Path == "/flaky":
			if s.flaky.Add(-1) >= 0 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("Сервис снова работает\n\nПосле перезапуска сервис отвечает как обычно, данные не потеряны.\n"))
		case r.URL.Path == "/always-down":
			http.Error(w, "down", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) addr() netip.AddrPort { return netip.MustParseAddrPort(s.Listener.Addr().String()) }

// env is one test's stage, run by the real runner on its own Redis prefix
// and Postgres schema.
type env struct {
	rdb    *redis.Client
	prefix string
	cfg    *config.Config
	pool   *pgxpool.Pool
	repo   *postgres.Repository
	reg    *prometheus.Registry
	site   *site
	stages *pipeline.Registry
}

type backendChoice int

const (
	useBuiltin backendChoice = iota
	useCrawl4AI
)

func newEnv(t *testing.T, s *site, backend backendChoice, tweak func(*enrich.Config, *config.Config)) *env {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cfg := testenv.Config(t, prefix, dbURL)
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ecfg := enrich.DefaultConfig()
	ecfg.Workers = 8
	ecfg.Crawl.PerHostDelay = 0
	ecfg.Crawl.Timeout = 5 * time.Second
	if tweak != nil {
		tweak(ecfg, cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	builtin, err := crawl.NewBuiltin(ecfg.Crawl, crawl.WithExemptAddrs(s.addr()), crawl.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = builtin.Close() })
	var backend0 crawl.Crawler = builtin
	if backend == useCrawl4AI {
		fake := crawltest.NewCrawl4AI(t, "token-1", builtin)
		c4cfg := ecfg.Crawl
		c4cfg.Crawl4AI.URL, c4cfg.Crawl4AI.Token = fake.URL, "token-1"
		backend0, err = crawl.NewCrawl4AI(c4cfg, crawl.WithExemptAddrs(s.addr()), crawl.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg.Stages.Set(enrich.Name, ecfg)
	e := &env{rdb: rdb, prefix: prefix, cfg: cfg, pool: pool, repo: postgres.NewRepository(pool), site: s}
	// An isolated registry holding the real stage, built around the
	// crawler chosen by the test.
	o := enrich.Options{
		Config:      *ecfg,
		Crawler:     crawl.NewCache(backend0, rdb, prefix, ecfg.Crawl.CacheTTL, ecfg.Crawl.ErrorCacheTTL, logger),
		Store:       e.repo,
		Output:      cfg.Streams.Enriched,
		MaxAttempts: cfg.Runner.MaxAttempts,
		Logger:      logger,
	}
	def := enrich.Definition()
	def.New = func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
		o.Metrics = deps.Metrics
		return enrich.NewStage(o)
	}
	e.stages = pipeline.MustRegistry(def)
	e.start(t)
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	e.reg = prometheus.NewRegistry()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: e.cfg, Redis: e.rdb, Registry: e.stages, Metrics: e.reg, Stages: []string{enrich.Name},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func tagged(postID, text string, urls ...string) *events.PostTagged {
	tags := []string{"тест"}
	return &events.PostTagged{
		Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "trace-" + postID,
			OccurredAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)},
		PostID: postID, ChannelID: "chan-1", TenantID: "tenant-1", Text: text, URLs: urls,
		PostedAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), ContentHash: events.ContentHash(text),
		Tags: tags, TagsHash: events.TagsHash(tags), Provider: "local", Model: "rake",
		PromptVersion: "v1", Trigger: events.TriggerInitial,
	}
}

func (e *env) publish(t *testing.T, evs ...*events.PostTagged) {
	t.Helper()
	for _, ev := range evs {
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: e.prefix + e.cfg.Streams.Tagged, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) enriched(t *testing.T) []events.PostEnriched {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.prefix+e.cfg.Streams.Enriched, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.PostEnriched, len(msgs))
	for i, m := range msgs {
		if err := pipeline.DecodeEvent(m.Values, &out[i]); err != nil {
			t.Fatalf("decode posts.enriched: %v", err)
		}
	}
	return out
}

// waitEnriched waits for n posts.enriched entries and for the input to be
// fully acknowledged.
func (e *env) waitEnriched(t *testing.T, n int) map[string]events.PostEnriched {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("%d posts.enriched", n), 30*time.Second, func() bool {
		l, _ := e.rdb.XLen(context.Background(), e.prefix+e.cfg.Streams.Enriched).Result()
		p, err := e.rdb.XPending(context.Background(), e.prefix+e.cfg.Streams.Tagged, enrich.Name).Result()
		return l >= int64(n) && err == nil && p.Count == 0
	})
	out := map[string]events.PostEnriched{}
	for _, ev := range e.enriched(t) {
		if _, dup := out[ev.PostID]; dup {
			t.Errorf("post %s published twice", ev.PostID)
		}
		out[ev.PostID] = ev
	}
	return out
}

type storedRow struct {
	Provider, Status, Error, DataHash string
	Data                              struct {
		Pages   []enrich.Page `json:"pages"`
		Dropped []struct {
			URL    string `json:"URL"`
			Reason string `json:"Reason"`
		} `json:"dropped"`
		TraceID string `json:"trace_id"`
	}
	UpdatedAt time.Time
	XMin      uint32
}

func (e *env) row(t *testing.T, postID string) (storedRow, bool) {
	t.Helper()
	var r storedRow
	var data []byte
	var errText *string
	var xmin int64
	err := e.pool.QueryRow(context.Background(), `SELECT coalesce(provider,''), status, error, data_hash, data, updated_at, xmin::text::bigint
		FROM post_enrichment WHERE post_id = $1 AND kind = 'crawl'`, postID).
		Scan(&r.Provider, &r.Status, &errText, &r.DataHash, &data, &r.UpdatedAt, &xmin)
	if err != nil {
		return r, false
	}
	if errText != nil {
		r.Error = *errText
	}
	if err := json.Unmarshal(data, &r.Data); err != nil {
		t.Fatalf("row data: %v", err)
	}
	r.XMin = uint32(xmin)
	return r, true
}

func (e *env) rowCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM post_enrichment WHERE kind = 'crawl'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testPosts is the test's set of posts: URLs in the event, URLs only in the
// text, no URLs, only a t.me link, and only URLs that fail for good.
func testPosts(s *site) []*events.PostTagged {
	return []*events.PostTagged{
		tagged("p-event-urls", "Квантовый симулятор и нерпы",
			s.URL+"/ru-news-utf8.html?utm_source=telegram", s.URL+"/ru-science-cp1251.html", "https://t.me/naukaikod"),
		tagged("p-text-urls", "Мост закроют: [подробнее]("+s.URL+"/ru-regional-cp1251.html). А ещё PDF: "+s.URL+"/report.pdf."),
		tagged("p-no-urls", "Просто новость без ссылок, которую всё равно надо проиндексировать."),
		tagged("p-tme-only", "Подписывайтесь на канал https://t.me/naukaikod"),
		tagged("p-all-failed", "Битые ссылки", s.URL+"/gone.html", "http://127.0.0.1:9/admin"),
	}
}

// TestEnrichPublishesOnePerTagged runs the stage on real Redis and Postgres
// against an httptest site: exactly one posts.enriched per posts.tagged,
// with and without URLs; stored rows hold the full Markdown; a post whose
// every URL failed for good is still published, with the errors.
func TestEnrichPublishesOnePerTagged(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	e := newEnv(t, s, useBuiltin, nil)
	evs := testPosts(s)
	e.publish(t, evs...)
	got := e.waitEnriched(t, len(evs))
	if len(got) != len(evs) {
		t.Fatalf("%d posts.enriched for %d posts.tagged", len(got), len(evs))
	}

	// URLs from the event: normalised, t.me dropped, two pages crawled.
	ev := got["p-event-urls"]
	if ev.Skipped || len(ev.Crawl) != 2 || ev.TraceID != "trace-p-event-urls" || ev.TagsHash == "" {
		t.Fatalf("p-event-urls: %+v", ev)
	}
	if ev.URLs[0] != s.URL+"/ru-news-utf8.html" {
		t.Errorf("urls not normalised: %q", ev.URLs)
	}
	if c := ev.Crawl[0]; c.Title != "В Новосибирске запустили первый в Сибири квантовый симулятор" || c.Status != 200 ||
		c.WordCount < 100 || !strings.HasPrefix(c.MarkdownExcerpt, "Учёные Института") || len([]rune(c.MarkdownExcerpt)) > 501 {
		t.Errorf("crawl[0] = %+v", c)
	}
	row, ok := e.row(t, "p-event-urls")
	if !ok {
		t.Fatal("no crawl row for p-event-urls")
	}
	if row.Status != "ok" || row.Provider != "builtin" || len(row.Data.Pages) != 2 || row.Data.TraceID != "trace-p-event-urls" {
		t.Errorf("row: status %s provider %s pages %d", row.Status, row.Provider, len(row.Data.Pages))
	}
	if p := row.Data.Pages[1]; !strings.Contains(p.Markdown, "температуру воды на глубине") || p.Language != "ru" ||
		strings.Contains(p.Markdown, "Туры на Байкал") {
		t.Errorf("stored page: %+v", p)
	}
	if len(row.Data.Dropped) != 1 || row.Data.Dropped[0].Reason != "skipped_domain" {
		t.Errorf("dropped: %+v", row.Data.Dropped)
	}
	if want := enrich.IdempotencyKey("p-event-urls", ev.TagsHash, row.DataHash); ev.IdempotencyKey != want {
		t.Errorf("idempotency key %q, want %q", ev.IdempotencyKey, want)
	}

	// URLs from the text: the article and a PDF recorded as skipped.
	ev = got["p-text-urls"]
	if len(ev.Crawl) != 2 || ev.Crawl[0].Title != "Тверской мост через Волгу закроют на ремонт до осени" || ev.Crawl[1].Error == "" {
		t.Errorf("p-text-urls: %+v", ev.Crawl)
	}
	row, _ = e.row(t, "p-text-urls")
	if row.Status != "ok" || row.Data.Pages[1].Status != "skipped" || row.Data.Pages[1].ContentType != "application/pdf" {
		t.Errorf("p-text-urls row: %s, pdf page %+v", row.Status, row.Data.Pages[1])
	}

	// Nothing to crawl: published, skipped, no row.
	for id, reason := range map[string]string{"p-no-urls": enrich.SkipNoURLs, "p-tme-only": enrich.SkipNoCrawlableURLs} {
		ev := got[id]
		if !ev.Skipped || ev.SkipReason != reason || len(ev.Crawl) != 0 || ev.Text == "" {
			t.Errorf("%s: skipped %v reason %q crawl %d", id, ev.Skipped, ev.SkipReason, len(ev.Crawl))
		}
		if _, ok := e.row(t, id); ok {
			t.Errorf("%s: a crawl row was stored", id)
		}
	}

	// Every URL failed for good (404, SSRF): published with the errors.
	ev = got["p-all-failed"]
	if ev.Skipped || len(ev.Crawl) != 2 || ev.Crawl[0].Error == "" || !strings.Contains(ev.Crawl[1].Error, "ssrf_refused") {
		t.Errorf("p-all-failed: %+v", ev.Crawl)
	}
	row, _ = e.row(t, "p-all-failed")
	if row.Status != "error" || row.Error == "" || row.Data.Pages[0].ErrorKind != crawl.KindHTTPStatus {
		t.Errorf("p-all-failed row: %s %q", row.Status, row.Error)
	}
	if n := e.rowCount(t); n != 3 {
		t.Errorf("%d crawl rows, want 3", n)
	}
	// Nothing went to the DLQ.
	if n, _ := e.rdb.XLen(context.Background(), e.prefix+e.cfg.Streams.Tagged+e.cfg.Streams.DLQSuffix).Result(); n != 0 {
		t.Errorf("%d entries dead-lettered", n)
	}
	if v := testenv.MetricValue(t, e.reg, "enrichment_processed_total", map[string]string{"status": "skipped"}); v != 2 {
		t.Errorf("enrichment_processed_total{skipped} = %v", v)
	}
	if v := testenv.MetricValue(t, e.reg, "crawl_requests_total", map[string]string{"status": "ok"}); v != 3 {
		t.Errorf("crawl_requests_total{ok} = %v, want 3", v)
	}

	// Redelivery: the same events again write nothing new, crawl nothing
	// (cache), and publish events with the same idempotency keys.
	before := map[string]storedRow{}
	for _, id := range []string{"p-event-urls", "p-text-urls", "p-all-failed"} {
		before[id], _ = e.row(t, id)
	}
	hits := s.count("/ru-news-utf8.html")
	e.publish(t, evs...)
	testenv.WaitFor(t, "redelivered events enriched", 30*time.Second, func() bool {
		l, _ := e.rdb.XLen(context.Background(), e.prefix+e.cfg.Streams.Enriched).Result()
		p, err := e.rdb.XPending(context.Background(), e.prefix+e.cfg.Streams.Tagged, enrich.Name).Result()
		return l == int64(2*len(evs)) && err == nil && p.Count == 0
	})
	for id, b := range before {
		a, _ := e.row(t, id)
		if a.XMin != b.XMin || !a.UpdatedAt.Equal(b.UpdatedAt) {
			t.Errorf("%s: row rewritten by a redelivery", id)
		}
	}
	if s.count("/ru-news-utf8.html") != hits {
		t.Error("a redelivery crawled the page again")
	}
	keys := map[string]int{}
	for _, ev := range e.enriched(t) {
		keys[ev.IdempotencyKey]++
	}
	for k, n := range keys {
		if n != 2 {
			t.Errorf("idempotency key %s published %d times, want the same key twice", k, n)
		}
	}
	if v := testenv.MetricValue(t, e.reg, "crawl_cache_hits_total", nil); v < 5 {
		t.Errorf("crawl_cache_hits_total = %v, want the redelivery served from the cache", v)
	}
}

// TestEnrichRetriesTransientFailures: a page answering 503 twice fails the
// entry, the runner retries it, and the post is published once, ok. A page
// that stays down is recorded as an error on the last attempt, so the post
// is still published instead of dead-lettered.
func TestEnrichRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.flaky.Store(2)
	e := newEnv(t, s, useBuiltin, func(_ *enrich.Config, c *config.Config) { c.Runner.MaxAttempts = 4 })
	e.publish(t,
		tagged("p-flaky", "Сервис лежал", s.URL+"/flaky", s.URL+"/ru-gov-press.html"),
		tagged("p-down", "Сервис лежит", s.URL+"/always-down"))
	got := e.waitEnriched(t, 2)
	if ev := got["p-flaky"]; len(ev.Crawl) != 2 || ev.Crawl[0].Error != "" || ev.Crawl[0].Title != "Сервис снова работает" {
		t.Errorf("p-flaky: %+v", ev.Crawl)
	}
	if n := s.count("/flaky"); n != 3 {
		t.Errorf("/flaky fetched %d times, want 3", n)
	}
	if n := s.count("/ru-gov-press.html"); n != 1 {
		t.Errorf("the page that worked was fetched %d times, want once (cached across retries)", n)
	}
	if ev := got["p-down"]; len(ev.Crawl) != 1 || !strings.Contains(ev.Crawl[0].Error, "server_error") {
		t.Errorf("p-down: %+v", ev.Crawl)
	}
	if n := s.count("/always-down"); n != 4 {
		t.Errorf("/always-down fetched %d times, want max_attempts = 4", n)
	}
	if row, _ := e.row(t, "p-down"); row.Status != "error" {
		t.Errorf("p-down row status %q", row.Status)
	}
	if v := testenv.MetricValue(t, e.reg, "enrichment_processed_total", map[string]string{"status": "retry"}); v != 5 {
		t.Errorf("enrichment_processed_total{retry} = %v, want 5 (2 + 3)", v)
	}
	if v := testenv.MetricValue(t, e.reg, "crawl_host_failures_total", map[string]string{"host": "127.0.0.1"}); v != 6 {
		t.Errorf("crawl_host_failures_total = %v, want 6", v)
	}
}

// TestCrawl4AIStoresTheSameRows runs the same posts through the builtin
// backend and through the crawl4ai backend (against the fake crawl4ai
// server of crawltest, rendering with the builtin extractor) and compares
// the stored rows: only the provider differs.
func TestCrawl4AIStoresTheSameRows(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := newEnv(t, s, useBuiltin, nil)
	c := newEnv(t, s, useCrawl4AI, nil)
	evs := testPosts(s)
	b.publish(t, evs...)
	c.publish(t, evs...)
	gotB, gotC := b.waitEnriched(t, len(evs)), c.waitEnriched(t, len(evs))
	for _, ev := range evs {
		rb, okB := b.row(t, ev.PostID)
		rc, okC := c.row(t, ev.PostID)
		if okB != okC {
			t.Errorf("%s: row stored by builtin %v, by crawl4ai %v", ev.PostID, okB, okC)
			continue
		}
		if gotB[ev.PostID].IdempotencyKey != gotC[ev.PostID].IdempotencyKey {
			t.Errorf("%s: idempotency keys differ", ev.PostID)
		}
		if !okB {
			continue
		}
		if rb.Provider != "builtin" || rc.Provider != "crawl4ai" {
			t.Errorf("%s: providers %q, %q", ev.PostID, rb.Provider, rc.Provider)
		}
		if rb.Status != rc.Status || rb.DataHash != rc.DataHash {
			jb, _ := json.MarshalIndent(rb.Data.Pages, "", " ")
			jc, _ := json.MarshalIndent(rc.Data.Pages, "", " ")
			t.Errorf("%s: rows differ: status %s / %s\nbuiltin %s\ncrawl4ai %s", ev.PostID, rb.Status, rc.Status, jb, jc)
		}
	}
}

// TestFromDeps builds the stage as the daemon would (shared pool, cached
// crawler, configured output) and checks it is ready.
func TestFromDeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	cfg := testenv.Config(t, prefix, dbURL)
	res := pipeline.NewResources()
	defer res.Close()
	st, err := enrich.FromDeps(ctx, pipeline.Deps{
		Config: cfg, Redis: rdb, Keys: pipeline.NewKeys(cfg), Resources: res,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(),
	}, *enrich.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("check: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	bad := *enrich.DefaultConfig()
	bad.Crawl.Backend = "selenium"
	if _, err := enrich.FromDeps(ctx, pipeline.Deps{Config: cfg, Redis: rdb, Resources: res, Logger: slog.Default()}, bad); err == nil {
		t.Error("an unknown backend was accepted")
	}
}
