// Package enrich is the enrich stage: it reads posts.tagged (in its own
// consumer group, beside persist), crawls the links of each post into clean
// Markdown, stores the pages in post_enrichment (kind='crawl') and publishes
// exactly one posts.enriched per event — also when there was nothing to
// crawl — so every post reaches index (spec sections 3 and 5).
//
// A link that fails for good (a 404, a PDF, a robots.txt disallow, an
// internal address) is recorded with its error and does not fail the post.
// A transient failure (a timeout, a 5xx, a 429) fails the entry so that the
// runner retries it; the URLs that did work come from the crawl cache on
// the retry. On the last attempt a transient failure is recorded like a
// permanent one, so the post is still published rather than dead-lettered.
package enrich

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/links"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Name is the stage name (config key, --stages value, consumer group).
const Name = "enrich"

// Skip reasons of posts.enriched.
const (
	SkipNoURLs          = "no_urls"           // the post has no link at all
	SkipNoCrawlableURLs = "no_crawlable_urls" // every link was dropped by the policy
	SkipCrawlDisabled   = "crawl_disabled"
)

// Statuses of a crawled URL in the stored row.
const (
	URLOK      = "ok"
	URLSkipped = "skipped" // not a page we crawl: a PDF, an image, a robots.txt disallow
	URLError   = "error"
)

// Store writes crawl rows; *postgres.Repository implements it.
type Store interface {
	UpsertCrawl(ctx context.Context, row postgres.CrawlRow) (bool, error)
}

// Options are what the stage is built from.
type Options struct {
	Config  Config
	Crawler crawl.Crawler // cached or not; the stage does not care
	Store   Store
	// Output is the (unprefixed) posts.enriched stream.
	Output string
	// MaxAttempts is the runner's max_attempts: on the last attempt a
	// transient crawl failure is recorded instead of retried.
	MaxAttempts int
	Logger      *slog.Logger
	Metrics     prometheus.Registerer
}

// Stage is the enrich stage. It is safe for concurrent use.
type Stage struct {
	cfg         Config
	policy      links.Policy
	crawler     crawl.Crawler
	store       Store
	out         string
	maxAttempts int
	log         *slog.Logger
	m           *metrics
	check       func(context.Context) error
	close       func() error
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Checker = (*Stage)(nil)
	_ pipeline.Closer  = (*Stage)(nil)
)

// NewStage builds the stage.
func NewStage(o Options) (*Stage, error) {
	if o.Crawler == nil || o.Store == nil || o.Output == "" {
		return nil, errors.New("enrich: a crawler, a store and an output stream are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("enrich: register metrics: %w", err)
	}
	return &Stage{
		cfg:         o.Config,
		policy:      o.Config.Policy(),
		crawler:     o.Crawler,
		store:       o.Store,
		out:         o.Output,
		maxAttempts: o.MaxAttempts,
		log:         o.Logger.With(slog.String("stage", Name)),
		m:           m,
	}, nil
}

// Handle enriches each message of the batch on its own: one post's failure
// never holds back another's.
func (s *Stage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	if len(batch) == 1 {
		s.handle(ctx, batch[0])
		return nil
	}
	var wg sync.WaitGroup
	for _, m := range batch {
		wg.Go(func() { s.handle(ctx, m) })
	}
	wg.Wait()
	return nil
}

func (s *Stage) handle(ctx context.Context, m *pipeline.Message) {
	ev := new(events.PostTagged)
	if err := m.Decode(ev); err != nil {
		m.Fail(err) // permanent: DLQ at once
		s.m.processed.WithLabelValues("invalid").Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "undecodable posts.tagged entry",
			append(m.LogAttrs(), slog.String("error", err.Error()))...)
		return
	}
	rawURLs := ev.URLs
	if len(rawURLs) == 0 {
		rawURLs = links.Extract(ev.Text)
	}
	out := &events.PostEnriched{
		Envelope: events.Envelope{
			SchemaVersion: "v1", TraceID: ev.TraceID, OccurredAt: time.Now().UTC(),
		},
		PostID: ev.PostID, ChannelID: ev.ChannelID, TenantID: ev.TenantID, Text: ev.Text,
		Tags: ev.Tags, TagsHash: ev.TagsHash, PostedAt: ev.PostedAt,
		URLs: links.NormalizeAll(rawURLs), Crawl: []events.CrawlResult{},
		ReceivedAt: ev.ReceivedAt,
	}
	if out.URLs == nil {
		out.URLs = []string{}
	}
	toCrawl, dropped := s.policy.Select(rawURLs)
	switch {
	case !s.cfg.CrawlEnabled:
		s.publishSkipped(ctx, m, out, SkipCrawlDisabled)
		return
	case len(out.URLs) == 0:
		s.publishSkipped(ctx, m, out, SkipNoURLs)
		return
	case len(toCrawl) == 0:
		s.publishSkipped(ctx, m, out, SkipNoCrawlableURLs)
		return
	}

	results, retry := s.crawlAll(ctx, m, ev, toCrawl)
	if retry != nil {
		s.m.processed.WithLabelValues("retry").Inc()
		m.Fail(retry)
		return
	}
	row := BuildRow(ev.PostID, results, dropped)
	row.SourceOccurredAt = ev.OccurredAt
	row.Provider = providerOf(results)
	if _, err := s.store.UpsertCrawl(ctx, row.CrawlRow(ev.TraceID)); err != nil {
		s.m.processed.WithLabelValues("retry").Inc()
		switch {
		case postgres.IsDataError(err):
			m.Fail(pipeline.Permanent(fmt.Errorf("store crawl of post %s: %w", ev.PostID, err)))
		case postgres.IsUnavailable(err):
			// PostgreSQL is down or lacks post_enrichment: pause the stage
			// rather than spend the entry's attempts.
			m.Fail(pipeline.Unavailable(fmt.Errorf("store crawl of post %s: %w", ev.PostID, err)))
		default:
			m.Fail(fmt.Errorf("store crawl of post %s: %w", ev.PostID, err))
		}
		return
	}
	for _, r := range row.Pages {
		out.Crawl = append(out.Crawl, events.CrawlResult{
			URL: r.URL, FinalURL: r.FinalURL, Status: r.HTTPStatus, Title: r.Title,
			MarkdownExcerpt: excerpt(r.Markdown, s.cfg.ExcerptChars), WordCount: r.WordCount,
			ContentSHA256: r.ContentSHA256, Error: r.Error,
		})
	}
	out.IdempotencyKey = IdempotencyKey(ev.PostID, ev.TagsHash, row.DataHash)
	if err := m.Publish(s.out, out); err != nil {
		m.Fail(fmt.Errorf("publish posts.enriched: %w", err))
		return
	}
	status := map[string]string{"ok": "success", "partial": "partial", "error": "error"}[row.Status]
	s.m.processed.WithLabelValues(status).Inc()
}

func (s *Stage) publishSkipped(ctx context.Context, m *pipeline.Message, out *events.PostEnriched, reason string) {
	out.Skipped, out.SkipReason = true, reason
	out.IdempotencyKey = IdempotencyKey(out.PostID, out.TagsHash, "")
	if err := m.Publish(s.out, out); err != nil {
		m.Fail(fmt.Errorf("publish posts.enriched: %w", err))
		return
	}
	s.m.processed.WithLabelValues("skipped").Inc()
	s.log.LogAttrs(ctx, slog.LevelDebug, "nothing to crawl",
		append(m.LogAttrs(), slog.String("skip_reason", reason), slog.Int("urls", len(out.URLs)))...)
}

// crawlAll crawls the URLs of one post at once (the crawler's global and
// per-host limits keep that polite). It returns the results in order, or
// the error to retry the entry with when a URL failed transiently and
// attempts remain.
func (s *Stage) crawlAll(ctx context.Context, m *pipeline.Message, ev *events.PostTagged, urls []string) ([]crawl.Result, error) {
	results := make([]crawl.Result, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			start := time.Now()
			res, err := s.crawler.Crawl(ctx, u)
			s.observe(ctx, m, ev, u, res, err, time.Since(start))
			results[i], errs[i] = res, err
		})
	}
	wg.Wait()
	lastAttempt := s.maxAttempts > 0 && m.Attempt >= s.maxAttempts
	var retry error
	var wait time.Duration
	for i, err := range errs {
		if err == nil || !crawl.IsTransient(err) {
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("crawl %s: %w", urls[i], err) // shutting down: hand the entry back
		}
		if lastAttempt {
			continue // recorded as an error below; the post goes on
		}
		var ce *crawl.Error
		if errors.As(err, &ce) && ce.RetryAfter > wait {
			wait = ce.RetryAfter
		}
		retry = errors.Join(retry, fmt.Errorf("crawl %s: %w", urls[i], err))
	}
	if retry != nil {
		if wait > 0 {
			return nil, pipeline.RetryAfter(retry, wait)
		}
		return nil, retry
	}
	for i, err := range errs {
		if err != nil && results[i].Error == "" {
			results[i].URL = urls[i]
			results[i].Error, results[i].ErrorKind = err.Error(), crawl.KindOf(err)
		}
	}
	return results, nil
}

// observe records the metrics and the log line of one crawl.
func (s *Stage) observe(ctx context.Context, m *pipeline.Message, ev *events.PostTagged, u string, res crawl.Result, err error, took time.Duration) {
	status := "ok"
	if err != nil {
		status = crawl.KindOf(err)
	}
	host := links.Host(u)
	if res.Cached {
		s.m.cacheHits.Inc()
	} else {
		s.m.requests.WithLabelValues(status).Inc()
		s.m.duration.Observe(took.Seconds())
		if err != nil {
			s.m.hostFailure(host)
		}
	}
	level := slog.LevelInfo
	if err != nil && crawl.IsTransient(err) {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("post_id", ev.PostID), slog.String("trace_id", ev.TraceID),
		slog.String("host", host), slog.String("url", u), slog.String("status", status),
		slog.Int("http_status", res.Status), slog.Int64("bytes", res.Bytes),
		slog.Duration("duration", took), slog.Bool("cached", res.Cached), slog.Int("attempt", m.Attempt),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(ctx, level, "crawl", attrs...)
}

func providerOf(results []crawl.Result) string {
	for _, r := range results {
		if r.Backend != "" {
			return r.Backend
		}
	}
	return ""
}

// IdempotencyKey is <post_id>:enriched:<tags_hash>:<crawl content hash>.
func IdempotencyKey(postID, tagsHash, crawlHash string) string {
	return postID + ":enriched:" + tagsHash + ":" + crawlHash
}

// Page is one crawled URL as stored in post_enrichment.data.pages.
type Page struct {
	URL           string     `json:"url"`
	FinalURL      string     `json:"final_url"`
	Status        string     `json:"status"` // ok | skipped | error
	HTTPStatus    int        `json:"http_status"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	SiteName      string     `json:"site_name"`
	Language      string     `json:"language"`
	PublishedAt   *time.Time `json:"published_at"`
	WordCount     int        `json:"word_count"`
	Canonical     string     `json:"canonical"`
	ContentType   string     `json:"content_type"`
	Markdown      string     `json:"markdown"`
	ContentSHA256 string     `json:"content_sha256"`
	Error         string     `json:"error,omitempty"`
	ErrorKind     string     `json:"error_kind,omitempty"`
}

// Row is the crawl row of one post: its data document and summary.
type Row struct {
	PostID  string          `json:"-"`
	Pages   []Page          `json:"pages"`
	Dropped []links.Dropped `json:"dropped"`
	// DataHash is the SHA-256 of what the row says about the pages and the
	// dropped URLs (not who wrote it, when, or the wording of an error).
	DataHash         string    `json:"-"`
	Status           string    `json:"-"` // ok | partial | error
	Error            string    `json:"-"`
	Provider         string    `json:"-"`
	SourceOccurredAt time.Time `json:"-"`
}

// BuildRow builds the stored row of a post from its crawl results.
func BuildRow(postID string, results []crawl.Result, dropped []links.Dropped) Row {
	row := Row{PostID: postID, Pages: make([]Page, 0, len(results)), Dropped: dropped}
	if row.Dropped == nil {
		row.Dropped = []links.Dropped{}
	}
	failed := 0
	var errs []string
	for _, r := range results {
		p := Page{
			URL: r.URL, FinalURL: r.FinalURL, HTTPStatus: r.Status, Title: pgSafe(r.Title),
			Description: pgSafe(r.Description), SiteName: pgSafe(r.SiteName), Language: r.Language,
			WordCount: r.WordCount, Canonical: pgSafe(r.Canonical), ContentType: r.ContentType,
			Markdown: pgSafe(r.Markdown), ContentSHA256: r.ContentSHA256, Error: pgSafe(r.Error), ErrorKind: r.ErrorKind,
		}
		if !r.PublishedAt.IsZero() {
			t := r.PublishedAt.UTC()
			p.PublishedAt = &t
		}
		switch {
		case r.Error == "":
			p.Status = URLOK
		case r.ErrorKind == crawl.KindUnsupportedType || r.ErrorKind == crawl.KindRobots:
			p.Status = URLSkipped
		default:
			p.Status = URLError
			failed++
			errs = append(errs, r.URL+": "+p.Error)
		}
		row.Pages = append(row.Pages, p)
	}
	switch {
	case failed == 0:
		row.Status = "ok"
	case failed == len(results):
		row.Status = "error"
	default:
		row.Status = "partial"
	}
	row.Error = strings.Join(errs, "; ")
	// The hash covers what the row says about each page, not how a
	// backend worded a failure or whether it reported a content type for
	// it: a retry that fails with other words is not a change, and both
	// backends store the same row for the same pages.
	type hashed struct {
		URL, FinalURL, Status, Title, Description, SiteName, Language string
		HTTPStatus, WordCount                                         int
		PublishedAt                                                   *time.Time
		Canonical, ContentSHA256, ErrorKind                           string
	}
	h := make([]hashed, len(row.Pages))
	for i, p := range row.Pages {
		if p.Status != URLOK {
			// A failure is identified by its kind: what else a backend
			// knows of a failed page (final URL, status) varies.
			h[i] = hashed{URL: p.URL, Status: p.Status, ErrorKind: p.ErrorKind}
			continue
		}
		h[i] = hashed{p.URL, p.FinalURL, p.Status, p.Title, p.Description, p.SiteName, p.Language,
			p.HTTPStatus, p.WordCount, p.PublishedAt, p.Canonical, p.ContentSHA256, p.ErrorKind}
	}
	content, _ := json.Marshal(struct {
		Pages   []hashed
		Dropped []links.Dropped
	}{h, row.Dropped})
	sum := sha256.Sum256(content)
	row.DataHash = hex.EncodeToString(sum[:])
	return row
}

// CrawlRow is the row in the store's form; the data document also names the
// trace that wrote it (not part of the hash: a redelivery is not a change).
func (r Row) CrawlRow(traceID string) postgres.CrawlRow {
	data, _ := json.Marshal(struct {
		Pages   []Page          `json:"pages"`
		Dropped []links.Dropped `json:"dropped"`
		TraceID string          `json:"trace_id"`
	}{r.Pages, r.Dropped, traceID})
	return postgres.CrawlRow{
		PostID: r.PostID, Provider: r.Provider, Data: data, DataHash: r.DataHash,
		Status: r.Status, Error: r.Error, SourceOccurredAt: r.SourceOccurredAt,
	}
}

// pgSafe drops what jsonb refuses (NUL) and invalid UTF-8.
func pgSafe(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// excerpt is the first n runes of md, cut at a word boundary when one is near.
func excerpt(md string, n int) string {
	if n <= 0 || utf8.RuneCountInString(md) <= n {
		return md
	}
	r := []rune(md)[:n]
	cut := string(r)
	if i := strings.LastIndexAny(cut, " \n"); i > len(cut)*3/4 {
		cut = cut[:i]
	}
	return strings.TrimSpace(cut) + "…"
}
