// Package tag is the tag stage: it reads posts.parsed, asks the configured
// tagger chain for tags with the strict prompt, keeps only the tags that
// occur in the post text, and publishes posts.tagged (docs/events.md).
//
// A provider failure is never published as "no tags" and never marks the
// post as done: the entry is retried and, if the provider stays down,
// dead-lettered, to be replayed once it is back.
package tag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/ai/provider"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/promreg"
	"github.com/assistant-dev/assistant/pipeline"
)

// Name is the stage name.
const Name = "tag"

// rejectReasons are the reason label values of tagging_rejected_tags_total.
var rejectReasons = []string{
	ai.RejectNotInText, ai.RejectTooLong, ai.RejectDuplicate, ai.RejectOverLimit,
	ai.RejectNotJSON, ai.RejectNotString,
}

// Statuses of tagging_processed_total.
const (
	statusSuccess      = "success"
	statusSkippedShort = "skipped_short"
	statusDedup        = "dedup"
	statusError        = "error"
)

// Stage tags posts.
type Stage struct {
	cfg     Config
	out     string
	tagger  ai.Tagger
	rdb     redis.UniversalClient
	keys    pipeline.Keys
	cache   *Cache
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	handler pipeline.Handler // handleBatch behind the dedup step
	// batcher tags several posts per call when the tagger can
	// (provider.BatchCapable) and prompt_batch > 1; nil otherwise.
	batcher ai.BatchTagger
	// decoded holds the events dedupKey decoded, by message, until Handle
	// returns (*pipeline.Message → *events.PostParsed).
	decoded sync.Map
}

// New builds the stage from the process's dependencies; the tagger chain is
// shared with other stages through the "ai" resource.
func New(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
	set, err := pipeline.Resource(deps.Resources, "ai", func() (*provider.Set, func(), error) {
		// The local tagger keeps its per-channel statistics in Redis.
		opt := local.WithoutChannelStats()
		if deps.Config.AI.Local.ChannelStats {
			opt = local.WithDocFreq(local.NewRedisDocFreq(deps.Redis, deps.Keys.Prefix, 0))
		}
		s, err := provider.New(deps.Config, deps.Logger, provider.WithLocalOptions(opt))
		return s, nil, err
	})
	if err != nil {
		return nil, err
	}
	tagger, err := set.Tagger()
	if err != nil {
		return nil, fmt.Errorf("tag: build tagger: %w", err)
	}
	return NewWithTagger(deps, tagger)
}

// NewWithTagger builds the stage around a given tagger (tests use it to put
// an HTTP emulation of a provider behind the stage).
func NewWithTagger(deps pipeline.Deps, tagger ai.Tagger) (*Stage, error) {
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("tag: register metrics: %w", err)
	}
	cfg, err := settingsOf(deps)
	if err != nil {
		return nil, err
	}
	s := &Stage{
		cfg:     *cfg,
		out:     deps.Config.Streams.Tagged,
		tagger:  tagger,
		rdb:     deps.Redis,
		keys:    deps.Keys,
		cache:   NewCache(cfg.CacheSize, cfg.CacheTTL, m.cacheSize, m.cacheEvictions),
		log:     deps.Logger,
		metrics: m,
		now:     time.Now,
	}
	if bt, ok := tagger.(ai.BatchTagger); ok && provider.BatchCapable(tagger) {
		s.batcher = bt
	}
	// Idempotency (docs/delivery.md, "Idempotency"): key <post_id>:<content_hash>,
	// first the in-process cache, then the Redis mark, which is set only
	// together with the published output.
	s.handler = pipeline.Chain(s.handleBatch, pipeline.Dedup(pipeline.DedupOptions{
		Key:    s.dedupKey,
		Redis:  deps.Redis,
		Keys:   deps.Keys,
		Prefix: markPrefix,
		TTL:    cfg.DedupTTL,
		Cache:  s.cache,
		OnHit: func(_ *pipeline.Message, source string) {
			if source == "redis" {
				s.metrics.redisDedupHits.Inc()
			}
			s.metrics.processed.WithLabelValues(statusDedup).Inc()
		},
	}))
	return s, nil
}

// markPrefix names the Redis dedup marks: tagging:processed:<post_id>:<content_hash>.
const markPrefix = "tagging:processed:"

// dedupKey is <post_id>:<content_hash> of a posts.parsed entry, the content
// hash computed when the producer left it out; "" when the entry does not
// decode (the handler then fails it with the reason). The decoded event is
// kept for prepare, so an entry is decoded once, not twice (the decode was
// a fifth of the stage's CPU besides the tagger).
func (s *Stage) dedupKey(m *pipeline.Message) string {
	post := new(events.PostParsed)
	if events.Decode(m.Values, post) != nil {
		return ""
	}
	if post.ContentHash == "" {
		post.ContentHash = events.ContentHash(post.Text)
	}
	s.decoded.Store(m, post)
	if post.Retag != "" {
		// A re-tag run asks for a new answer: neither the cache nor the
		// mark of the first tagging may answer it.
		return post.PostID + ":" + post.ContentHash + ":retag:" + post.Retag
	}
	return post.PostID + ":" + post.ContentHash
}

// settingsOf returns the stage's settings block, or the defaults when the
// deps carry none (a stage built directly by a test).
func settingsOf(deps pipeline.Deps) (*Config, error) {
	if deps.StageConfig == nil {
		return DefaultConfig(), nil
	}
	cfg, err := pipeline.StageSettings[*Config](deps)
	if err != nil {
		return nil, fmt.Errorf("tag: %w", err)
	}
	return cfg, nil
}

// Handle tags each post of the batch that the dedup step lets through:
// prompt_batch posts per model call when the tagger can take several, each
// post checked on its own and tagged alone when its part of the answer is
// missing or invalid.
func (s *Stage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	defer func() {
		for _, m := range batch {
			s.decoded.Delete(m) // also those the dedup step answered
		}
	}()
	return s.handler(ctx, batch)
}

func (s *Stage) handleBatch(ctx context.Context, batch []*pipeline.Message) error {
	var model []*pending // posts that need the tagger
	for _, m := range batch {
		p, err := s.prepare(m)
		if err != nil {
			m.Fail(err)
			continue
		}
		if p.skipped {
			s.finish(p, statusSkippedShort)
			continue
		}
		model = append(model, p)
	}
	if s.batcher != nil && s.cfg.PromptBatch > 1 && len(model) > 1 {
		for start := 0; start < len(model); start += s.cfg.PromptBatch {
			group := model[start:min(start+s.cfg.PromptBatch, len(model))]
			if len(group) > 1 {
				s.tagGroup(ctx, group)
			}
		}
	}
	for _, p := range model {
		if p.done {
			continue
		}
		if err := s.tagOne(ctx, p); err != nil {
			p.m.Fail(err)
			continue
		}
		s.finish(p, statusSuccess)
	}
	return nil
}

// pending is one post on its way through the stage.
type pending struct {
	m       *pipeline.Message
	post    events.PostParsed
	out     events.PostTagged
	input   string // the text shown to the model
	skipped bool   // too short: no model call
	done    bool   // tagged by a batched call
}

// prepare decodes m and fills the parts of its posts.tagged event that do
// not depend on the tagger.
func (s *Stage) prepare(m *pipeline.Message) (*pending, error) {
	p := &pending{m: m}
	if v, ok := s.decoded.Load(m); ok {
		p.post = *v.(*events.PostParsed)
		// A legacy entry has no trace id: m.Decode mints the one every
		// retry of it carries.
		if p.post.TraceID == "" {
			if err := m.Decode(&p.post); err != nil {
				s.metrics.processed.WithLabelValues(statusError).Inc()
				return nil, err
			}
		}
	} else if err := m.Decode(&p.post); err != nil {
		s.metrics.processed.WithLabelValues(statusError).Inc()
		return nil, err
	}
	post := &p.post
	if post.ContentHash == "" {
		post.ContentHash = events.ContentHash(post.Text)
	}
	p.out = events.PostTagged{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1,
			TraceID:       post.TraceID,
			OccurredAt:    s.now().UTC(),
		},
		PostID:        post.PostID,
		ChannelID:     post.ChannelID,
		ChannelTitle:  post.ChannelTitle,
		TenantID:      post.TenantID,
		Text:          post.Text,
		URLs:          post.URLs,
		PostedAt:      post.PostedAt,
		ContentHash:   post.ContentHash,
		Tags:          []string{},
		PromptVersion: ai.PromptVersion,
		Trigger:       events.TriggerInitial,
		UserID:        post.UserID,
		ReceivedAt:    post.ReceivedAt,
	}
	if post.Retag != "" {
		p.out.Trigger = events.TriggerRetag
	}
	if p.out.ReceivedAt.IsZero() {
		// The producer's occurred_at is when the daemon received the post
		// (ingest, the telegram source); the old worker's flat entries
		// carry none: now.
		p.out.ReceivedAt = post.OccurredAt
		if p.out.ReceivedAt.IsZero() {
			p.out.ReceivedAt = p.out.OccurredAt
		}
	}
	if p.out.URLs == nil {
		p.out.URLs = []string{}
	}
	if strings.TrimSpace(post.Text) == "" || utf8.RuneCountInString(post.Text) < s.cfg.MinChars && !post.HasMedia {
		// Too short to say anything about (a photo without a caption has
		// nothing at all): empty tags, no model call.
		p.skipped = true
		p.out.Provider = "rule"
		p.out.Model = "min_chars"
		return p, nil
	}
	p.input = post.Text
	if !ai.ReadsWholeText(s.tagger) { // the cut saves model tokens only
		p.input = ai.CutInput(post.Text, s.cfg.MaxInputChars)
	}
	return p, nil
}

// tagOne asks the tagger about one post.
func (s *Stage) tagOne(ctx context.Context, p *pending) error {
	tags, resp, latency, err := s.tag(ctx, p.post.ChannelID, p.input, p.post.Text)
	if err != nil {
		s.metrics.processed.WithLabelValues(statusError).Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "tagger failed",
			slog.String("post_id", p.post.PostID), slog.String("trace_id", p.post.TraceID), slog.String("err", err.Error()))
		if wait, ok := ai.RetryAfterOf(err); ok {
			return pipeline.RetryAfter(err, wait)
		}
		return err // transient: retried, then dead-lettered; never "no tags"
	}
	p.out.Tags, p.out.Provider, p.out.Model, p.out.LatencyMS = tags, resp.Provider, resp.Model, latency.Milliseconds()
	return nil
}

// tagGroup asks the tagger about several posts in one call and keeps the
// answer of each post that validates on its own; the others are left for
// tagOne (the fallback), as is every post when the call fails.
func (s *Stage) tagGroup(ctx context.Context, group []*pending) {
	reqs := make([]ai.TagRequest, len(group))
	texts := make([]string, len(group))
	for i, p := range group {
		reqs[i] = ai.TagRequest{Text: p.input, MaxTags: s.cfg.MaxTags, Channel: p.post.ChannelID}
		texts[i] = p.post.Text
	}
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	start := s.now()
	resp, err := s.batcher.TagBatch(callCtx, reqs)
	cancel()
	latency := s.now().Sub(start)
	s.metrics.batchCalls.Inc()
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "batched tagger call failed, tagging its posts one by one",
			slog.Int("posts", len(group)), slog.String("err", err.Error()))
		s.metrics.batchFallbacks.WithLabelValues("call_failed").Add(float64(len(group)))
		return
	}
	s.metrics.latency.WithLabelValues(resp.Provider, resp.Model).Observe(latency.Seconds())
	// Validate against the full texts: a tag found in the cut input is in
	// the full text too.
	parts, extra := ai.ValidateBatch(resp.Raw, texts, s.cfg.MaxTags)
	if extra > 0 {
		s.metrics.batchExtraKeys.Add(float64(extra))
	}
	for i, part := range parts {
		p := group[i]
		if part.Fallback != "" {
			s.metrics.batchFallbacks.WithLabelValues(part.Fallback).Inc()
			s.log.LogAttrs(ctx, slog.LevelDebug, "post missing from the batched answer, tagging it alone",
				slog.String("post_id", p.post.PostID), slog.String("trace_id", p.post.TraceID), slog.String("reason", part.Fallback))
			continue
		}
		for reason, n := range part.Result.Rejected {
			s.metrics.rejected.WithLabelValues(reason).Add(float64(n))
		}
		tags := part.Result.Tags
		if tags == nil {
			tags = []string{}
		}
		p.out.Tags, p.out.Provider, p.out.Model = tags, resp.Provider, resp.Model
		p.out.LatencyMS = latency.Milliseconds()
		p.out.PromptVersion = ai.BatchPromptVersion
		p.done = true
		s.finish(p, statusSuccess)
	}
}

// finish publishes p's posts.tagged event.
func (s *Stage) finish(p *pending, status string) {
	out := &p.out
	out.Metadata = map[string]string{"model": out.Model, "prompt_version": out.PromptVersion}
	out.TagsHash = events.TagsHash(out.Tags)
	out.IdempotencyKey = events.TaggedIdempotencyKey(out.PostID, out.TagsHash)
	if err := p.m.Publish(s.out, out); err != nil {
		p.m.Fail(pipeline.Permanent(fmt.Errorf("tag: encode posts.tagged for %s: %w", out.PostID, err)))
		return
	}
	s.metrics.processed.WithLabelValues(status).Inc()
}

// tag calls the tagger chain with input and validates its answer against
// the post's full text.
func (s *Stage) tag(ctx context.Context, channel, input, text string) ([]string, ai.TagResponse, time.Duration, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	start := s.now()
	resp, err := s.tagger.Tag(callCtx, ai.TagRequest{Text: input, MaxTags: s.cfg.MaxTags, Channel: channel})
	latency := s.now().Sub(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("tagger call timed out after %s: %w", s.cfg.CallTimeout, err)
		}
		return nil, resp, latency, err
	}
	s.metrics.latency.WithLabelValues(resp.Provider, resp.Model).Observe(latency.Seconds())
	// Validate against the full text: a tag the model found in the cut
	// input is in the full text too.
	res := ai.ValidateTags(resp.Raw, text, s.cfg.MaxTags)
	for reason, n := range res.Rejected {
		s.metrics.rejected.WithLabelValues(reason).Add(float64(n))
	}
	if res.Rejected[ai.RejectNotJSON] > 0 {
		// An answer without a JSON array is a misbehaving model, not "no
		// tags" (that is "[]"): retry it, and dead-letter it with this
		// reason if it keeps happening.
		return nil, resp, latency, fmt.Errorf("%s (%s) answered without a JSON array: %q", resp.Provider, resp.Model, clip(resp.Raw, 160))
	}
	tags := res.Tags
	if tags == nil {
		tags = []string{}
	}
	return tags, resp, latency, nil
}

// clip shortens s to at most n bytes on a rune boundary, for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

type metrics struct {
	processed      *prometheus.CounterVec
	cacheSize      prometheus.Gauge
	cacheEvictions prometheus.Counter
	redisDedupHits prometheus.Counter
	latency        *prometheus.HistogramVec
	rejected       *prometheus.CounterVec
	batchCalls     prometheus.Counter
	batchFallbacks *prometheus.CounterVec
	batchExtraKeys prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagging_processed_total",
			Help: "Posts handled by the tag stage: success, skipped_short (empty tags, no model call), dedup (already tagged), error (a failed attempt).",
		}, []string{"status"}),
		cacheSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagging_cache_size",
			Help: "Entries held by the in-process TTL-LRU dedup cache.",
		}),
		cacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagging_cache_evictions_total",
			Help: "Entries the in-process dedup cache dropped before their TTL because it was full (expired entries are not counted).",
		}),
		redisDedupHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagging_redis_dedup_hits_total",
			Help: "Posts found already tagged by the Redis dedup mark (missed by the in-process cache).",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tagging_latency_seconds",
			Help: "Duration of successful tagger calls.",
			// Written out, so that they print as written (le="0.005"), not
			// as computed (le="0.0045000000000000005"): from the local
			// tagger's milliseconds to a slow model's tens of seconds.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"provider", "model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagging_rejected_tags_total",
			Help: "Tags the validator dropped, by reason (not_in_text, too_long, duplicate, over_limit, ...).",
		}, []string{"reason"}),
	}
	m.batchCalls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tagging_batch_calls_total",
		Help: "Tagger calls that asked about several posts at once (stages.tag.prompt_batch).",
	})
	m.batchFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagging_batch_fallbacks_total",
		Help: "Posts of a batched call tagged again on their own, by reason: call_failed, no_object, missing, not_array, ungrounded.",
	}, []string{"reason"})
	m.batchExtraKeys = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tagging_batch_extra_keys_total",
		Help: "Keys of batched answers that named no post of the batch (ignored).",
	})
	// A collector already registered is reused (internal/promreg, the one
	// registration policy).
	if err := errors.Join(
		promreg.Into(reg, &m.processed), promreg.Into(reg, &m.cacheSize), promreg.Into(reg, &m.cacheEvictions),
		promreg.Into(reg, &m.redisDedupHits), promreg.Into(reg, &m.latency), promreg.Into(reg, &m.rejected),
		promreg.Into(reg, &m.batchCalls), promreg.Into(reg, &m.batchFallbacks), promreg.Into(reg, &m.batchExtraKeys),
	); err != nil {
		return nil, err
	}
	// Every known label value exists from the start, at zero, so that
	// alerts and rate() see the series before the first event of its kind.
	for _, status := range []string{statusSuccess, statusSkippedShort, statusDedup, statusError} {
		m.processed.WithLabelValues(status)
	}
	for _, reason := range rejectReasons {
		m.rejected.WithLabelValues(reason)
	}
	return m, nil
}
