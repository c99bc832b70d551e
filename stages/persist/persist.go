// Package persist is the persist stage: it stores every posts.tagged event
// in PostgreSQL — the post's columns in posts and its tags in
// post_enrichment (kind='tags') — with one multi-row statement per batch
// (docs/tables.md). It is a sink: it publishes
// nothing.
//
// The tags row changes only when tags_hash differs, and an event older than
// the stored one (by occurred_at) never overwrites it, so redeliveries and
// reordering leave the table as a clean run would.
package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/tombstone"
)

// Name is the stage's name (config key, --stages value, consumer group).
const Name = "persist"

// Stage is the persist stage. It is safe for concurrent use.
type Stage struct {
	repo      *postgres.Repository
	retention config.Posts
	logger    *slog.Logger
	metrics   metrics
	scratch   sync.Pool // *batchScratch
	// tombstones are the posts cleanup deleted: a late posts.tagged entry
	// of one is acknowledged without bringing it back (nil: none).
	tombstones *tombstone.Set
	// titles are the channel names already in the channels table
	// (channel_id -> title), so that each is written once per process.
	titles sync.Map
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Checker = (*Stage)(nil)
)

// New builds the stage on the process's shared Postgres pool. The daemon
// migrates before building stages, so New only opens the pool.
func New(ctx context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
	if deps.Config == nil || deps.Resources == nil {
		return nil, errors.New("persist: deps need a config and resources")
	}
	if deps.StageConfig != nil {
		// The pool settings are the runner's; the retention is posts.retention.
		if _, err := pipeline.StageSettings[*Config](deps); err != nil {
			return nil, fmt.Errorf("persist: %w", err)
		}
	}
	pool, err := postgres.Shared(ctx, deps.Resources, deps.Config.Database)
	if err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	st, err := newStage(postgres.NewRepository(pool), deps.Config.Posts, deps.Logger, deps.Metrics)
	if err == nil && deps.Redis != nil {
		st.tombstones = tombstone.New(deps.Redis, deps.Keys.Prefix)
	}
	return st, err
}

func newStage(repo *postgres.Repository, retention config.Posts, logger *slog.Logger, reg prometheus.Registerer) (*Stage, error) {
	if logger == nil {
		logger = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("persist: register metrics: %w", err)
	}
	return &Stage{
		repo:      repo,
		retention: retention,
		logger:    logger.With(slog.String("stage", Name)),
		metrics:   m,
	}, nil
}

// Check reports whether Postgres answers (for /readyz).
func (s *Stage) Check(ctx context.Context) error { return s.repo.Ping(ctx) }

// batchScratch is the per-batch working memory, reused between batches.
type batchScratch struct {
	// decoded are the messages that decoded, with their post ids.
	decoded []decodedMessage
	// events holds the newest event of each post of the batch.
	events []*events.PostTagged
	// index maps a post id to its position in events.
	index map[string]int
}

type decodedMessage struct {
	msg    *pipeline.Message
	postID string
}

func (s *Stage) getScratch() *batchScratch {
	if sc, ok := s.scratch.Get().(*batchScratch); ok {
		return sc
	}
	return &batchScratch{index: make(map[string]int)}
}

func (s *Stage) putScratch(sc *batchScratch) {
	clear(sc.decoded) // drop references so messages and events can be collected
	clear(sc.events)
	sc.decoded, sc.events = sc.decoded[:0], sc.events[:0]
	clear(sc.index)
	s.scratch.Put(sc)
}

// Handle stores a batch. An entry that does not decode fails alone
// (permanently). A batch Postgres refuses for the data of some posts (a
// SQLSTATE of class 22, 23 or 54) is split until the refused posts are found:
// their entries fail alone (permanently), the rest is stored. Any other
// Postgres failure fails the batch (transiently: the runner retries it and
// the writes are idempotent; an outage pauses the stage).
func (s *Stage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	sc := s.getScratch()
	defer s.putScratch(sc)

	for _, m := range batch {
		ev := new(events.PostTagged)
		if err := m.Decode(ev); err != nil {
			m.Fail(err) // Decode's errors are already Permanent: DLQ at once
			s.metrics.errors.Inc()
			s.logger.LogAttrs(ctx, slog.LevelWarn, "undecodable posts.tagged entry",
				append(m.LogAttrs(), slog.String("error", err.Error()))...)
			continue
		}
		if ev.Model == "" {
			// The old worker's PostTaggedEventV1 names the model in metadata.
			ev.Model = ev.Metadata["model"]
		}
		if ev.OccurredAt.IsZero() {
			// Legacy flat entries carry no envelope; the time the entry
			// entered the stream is the best ordering we have.
			ev.OccurredAt = entryTime(m.ID)
		}
		sc.decoded = append(sc.decoded, decodedMessage{msg: m, postID: ev.PostID})
		// Two rows for one key in one statement is an error in Postgres, and
		// only the newest event of a post matters; stream order breaks ties.
		if i, dup := sc.index[ev.PostID]; dup {
			sc.events[i] = newestOf(sc.events[i], ev)
			continue
		}
		sc.index[ev.PostID] = len(sc.events)
		sc.events = append(sc.events, ev)
	}
	if len(sc.events) == 0 {
		return nil
	}
	if err := s.dropDeleted(ctx, sc); err != nil {
		return err
	}
	if len(sc.events) == 0 {
		return nil
	}

	start := time.Now()
	var res postgres.UpsertResult
	split, err := postgres.WriteSplitting(ctx, len(sc.events), func(ctx context.Context, lo, hi int) error {
		writeStart := time.Now()
		r, err := s.repo.UpsertTagged(ctx, sc.events[lo:hi], s.retention)
		s.metrics.latency.Observe(time.Since(writeStart).Seconds())
		res.Add(r)
		return err
	})
	if err != nil {
		// Not the data's fault (an outage, a timeout): the runner retries
		// the whole batch; what a split wrote meanwhile is idempotent.
		s.metrics.errors.Add(float64(len(sc.decoded)))
		err = fmt.Errorf("persist %d tagged posts to postgres: %w", len(sc.events), err)
		if postgres.IsUnavailable(err) {
			// An outage or a schema that lacks a table: no entry is at
			// fault, so the runner pauses instead of spending attempts.
			return pipeline.Unavailable(err)
		}
		return err
	}
	failed := 0
	for _, r := range split.Refused {
		failed += s.failPost(ctx, sc, sc.events[r.Index].PostID, r.Err)
	}
	if len(split.Refused) > 0 {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "batch refused by postgres, split to store the rest",
			slog.Int("posts", len(sc.events)), slog.Int("refused", len(split.Refused)), slog.Int("writes", split.Writes))
	}
	if err := s.undoDeleted(ctx, sc); err != nil {
		return err
	}
	s.recordTitles(ctx, sc.events)
	s.metrics.success.Add(float64(len(sc.decoded) - failed))
	s.metrics.conflicts.Add(float64(res.Replaced))
	s.countPastRetention(ctx, sc.events, start)
	s.logger.LogAttrs(ctx, slog.LevelDebug, "tags persisted",
		slog.Int("entries", len(batch)), slog.Int("posts", len(sc.events)),
		slog.Int("inserted", res.Inserted), slog.Int("replaced", res.Replaced),
		slog.Int("refreshed", res.Refreshed), slog.Int("stale", res.Stale),
		slog.Int("unchanged", res.Unchanged), slog.Int("refused", len(split.Refused)),
		slog.Duration("took", time.Since(start)))
	return nil
}

// newestOf returns the event that stands for a post of which a batch holds
// two: the newer by occurred_at (the later in the stream on a tie), with
// what it does not carry taken from the other one when both describe the
// same thing — the same content (content_hash) for the post's columns, the
// same tags (tags_hash) for the tagging fields. So an event that carries less
// (the old worker's PostTaggedEventV1 has no text, posted_at, content_hash or
// model) never replaces one that carries more, whatever their order.
func newestOf(prev, ev *events.PostTagged) *events.PostTagged {
	newer, older := ev, prev
	if ev.OccurredAt.Before(prev.OccurredAt) {
		newer, older = prev, ev
	}
	fillMissing(newer, older)
	return newer
}

// fillMissing copies into dst the fields it lacks from src, an event of the
// same post (see newestOf).
func fillMissing(dst, src *events.PostTagged) {
	fill := func(d *string, s string) {
		if *d == "" {
			*d = s
		}
	}
	fill(&dst.ChannelID, src.ChannelID)
	fill(&dst.TenantID, src.TenantID)
	fill(&dst.UserID, src.UserID)
	if dst.ContentHash == "" || src.ContentHash == "" || dst.ContentHash == src.ContentHash {
		fill(&dst.ContentHash, src.ContentHash)
		fill(&dst.Text, src.Text)
		if dst.PostedAt.IsZero() {
			dst.PostedAt = src.PostedAt
		}
		if dst.ReceivedAt.IsZero() {
			dst.ReceivedAt = src.ReceivedAt
		}
		if len(dst.URLs) == 0 {
			dst.URLs = src.URLs
		}
	}
	if dst.TagsHash == src.TagsHash {
		fill(&dst.Model, src.Model)
		fill(&dst.PromptVersion, src.PromptVersion)
		fill(&dst.Provider, src.Provider)
	}
}

// countPastRetention counts (posts_received_past_retention_total) and logs
// the posts of a stored batch that were already older than posts.retention
// when the daemon received them: history that only posts.receipt_floor
// keeps, or, with the floor at 0, that expired on arrival. Never silent.
func (s *Stage) countPastRetention(ctx context.Context, evs []*events.PostTagged, now time.Time) {
	past := 0
	var oldest time.Time
	for _, ev := range evs {
		if s.retention.PastRetention(ev.PostedAt, postgres.ReceivedAt(ev, now)) {
			past++
			if oldest.IsZero() || ev.PostedAt.Before(oldest) {
				oldest = ev.PostedAt
			}
		}
	}
	if past == 0 {
		return
	}
	s.metrics.pastRetention.Add(float64(past))
	s.logger.LogAttrs(ctx, slog.LevelInfo, "stored posts older than posts.retention",
		slog.Int("posts", past), slog.Time("oldest_posted_at", oldest),
		slog.Duration("retention", s.retention.Retention), slog.Duration("receipt_floor", s.retention.ReceiptFloor))
}

// failPost fails every message of the batch about postID permanently and
// returns how many there were.
func (s *Stage) failPost(ctx context.Context, sc *batchScratch, postID string, err error) int {
	n := 0
	for _, d := range sc.decoded {
		if d.postID != postID {
			continue
		}
		// The reason names the post and the SQLSTATE, so that whoever reads
		// the DLQ knows which value to fix before replaying it.
		d.msg.Fail(pipeline.Permanent(fmt.Errorf("postgres refused tagged post %s (sqlstate %s): %w",
			postID, postgres.SQLState(err), err)))
		s.logger.LogAttrs(ctx, slog.LevelWarn, "tagged post refused by postgres",
			append(d.msg.LogAttrs(), slog.String("error", err.Error()))...)
		n++
	}
	s.metrics.errors.Add(float64(n))
	return n
}

// entryTime is the time encoded in a stream entry id (<ms>-<seq>); zero
// when the id is not of that form.
func entryTime(id string) time.Time {
	msPart, _, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// metrics are the stage's own series (docs/metrics.md, "persist").
type metrics struct {
	success, errors prometheus.Counter
	conflicts       prometheus.Counter
	latency         prometheus.Histogram
	pastRetention   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	persisted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tags_persisted_total",
		Help: "posts.tagged entries handled by persist, by status: success (the tags row reflects the event, written or already up to date) or error.",
	}, []string{"status"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tags_persist_latency_seconds",
		Help:    "Time to write one batch of tagged posts to Postgres.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	conflicts := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tags_persist_conflicts_total",
		Help: "Stored tags rows that held different tags and were replaced.",
	})
	pastRetention := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "posts_received_past_retention_total",
		Help: "Posts stored whose posted_at + posts.retention had passed when the daemon received them (history: kept only by posts.receipt_floor; with the floor at 0, expired on arrival).",
	})
	if reg != nil {
		var err error
		if pastRetention, err = pipeline.RegisterCollector(reg, pastRetention); err != nil {
			return metrics{}, err
		}
		if persisted, err = pipeline.RegisterCollector(reg, persisted); err != nil {
			return metrics{}, err
		}
		if latency, err = pipeline.RegisterCollector(reg, latency); err != nil {
			return metrics{}, err
		}
		if conflicts, err = pipeline.RegisterCollector(reg, conflicts); err != nil {
			return metrics{}, err
		}
	}
	// Both statuses exist from the start: the TaggingPipelineBroken alert
	// compares a rate of success that must be 0, not absent.
	return metrics{
		success:       persisted.WithLabelValues("success"),
		errors:        persisted.WithLabelValues("error"),
		conflicts:     conflicts,
		latency:       latency,
		pastRetention: pastRetention,
	}, nil
}

func eventIDs(evs []*events.PostTagged) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.PostID
	}
	return ids
}

// dropDeleted removes from the batch the posts cleanup has tombstoned: their
// entries are acknowledged, nothing is written.
func (s *Stage) dropDeleted(ctx context.Context, sc *batchScratch) error {
	dead, err := s.tombstones.Dead(ctx, eventIDs(sc.events))
	if err != nil || len(dead) == 0 {
		return err
	}
	kept := sc.events[:0]
	for _, ev := range sc.events {
		if !dead[ev.PostID] {
			kept = append(kept, ev)
		}
	}
	clear(sc.events[len(kept):])
	sc.events = kept
	s.logger.LogAttrs(ctx, slog.LevelInfo, "deleted posts not persisted", slog.Int("posts", len(dead)))
	return nil
}

// undoDeleted closes the race with a deletion that arrived while the batch
// was being written: cleanup tombstones before it deletes, so a post
// tombstoned now was either deleted after this write or is deleted here.
func (s *Stage) undoDeleted(ctx context.Context, sc *batchScratch) error {
	dead, err := s.tombstones.Dead(ctx, eventIDs(sc.events))
	if err != nil || len(dead) == 0 {
		return err
	}
	ids := make([]string, 0, len(dead))
	for id := range dead {
		ids = append(ids, id)
	}
	if _, err := s.repo.DeletePosts(ctx, ids); err != nil {
		return fmt.Errorf("persist: remove %d posts deleted meanwhile: %w", len(ids), err)
	}
	return nil
}

// recordTitles writes the channel names of evs not yet written. A failure
// is logged and not retried here: the name is written with the channel's
// next post, and no post waits on it.
func (s *Stage) recordTitles(ctx context.Context, evs []*events.PostTagged) {
	var fresh map[string]string
	for _, ev := range evs {
		if ev.ChannelTitle == "" || ev.ChannelID == "" {
			continue
		}
		if known, ok := s.titles.Load(ev.ChannelID); ok && known.(string) == ev.ChannelTitle {
			continue
		}
		if fresh == nil {
			fresh = map[string]string{}
		}
		fresh[ev.ChannelID] = ev.ChannelTitle
	}
	if len(fresh) == 0 {
		return
	}
	if err := s.repo.UpsertChannelTitles(ctx, fresh); err != nil {
		s.logger.WarnContext(ctx, "channel names not recorded", "channels", len(fresh), "err", err)
		return
	}
	for id, t := range fresh {
		s.titles.Store(id, t)
	}
}
