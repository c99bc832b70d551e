package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

// DefaultReindexBatch is how many posts reindex reads and publishes per
// MULTI/EXEC.
const DefaultReindexBatch = 500

// ReindexFilter selects the stored posts to re-index. Zero fields select
// nothing by themselves; All must be set to select every post.
type ReindexFilter struct {
	// Since selects posts posted, or changed (updated_at), at or after it.
	Since time.Time
	// Channels selects posts of these channel ids.
	Channels []string
	// PostIDs selects these posts.
	PostIDs []string
	// All selects every stored post (with or without other filters).
	All bool
}

// Empty reports that the filter selects no post: neither a filter nor All.
func (f ReindexFilter) Empty() bool {
	return !f.All && f.Since.IsZero() && len(f.Channels) == 0 && len(f.PostIDs) == 0
}

// id names the filter, so that runs with different filters keep separate
// checkpoints.
func (f ReindexFilter) id() string {
	ch, ids := slices.Clone(f.Channels), slices.Clone(f.PostIDs)
	slices.Sort(ch)
	slices.Sort(ids)
	since := ""
	if !f.Since.IsZero() {
		since = f.Since.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%t\x00%s\x00%s\x00%s", f.All, since, strings.Join(ch, "\x01"), strings.Join(ids, "\x01"))))
	return hex.EncodeToString(h[:8])
}

// ReindexOptions are what Reindex needs.
type ReindexOptions struct {
	Pool  *pgxpool.Pool
	Redis redis.UniversalClient
	Keys  pipeline.Keys
	// Stream is the (unprefixed) posts.enriched stream the index stage reads.
	Stream string
	// Retag publishes the posts to ParsedStream (posts.parsed) instead,
	// marked retag, so that the tag stage tags them again (a changed
	// tagger, model or prompt) and the pipeline carries the new tags on.
	Retag        bool
	ParsedStream string
	Filter       ReindexFilter
	// DryRun counts the posts that would be published and writes nothing.
	DryRun bool
	// Restart forgets the checkpoint of an earlier, interrupted run.
	Restart bool
	// Limit stops after this many posts (0: no limit); the checkpoint keeps
	// the place, and the next run goes on from it.
	Limit     int
	BatchSize int
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ReindexSummary is what a Reindex run did.
type ReindexSummary struct {
	Stream     string `json:"stream"`
	Checkpoint string `json:"checkpoint"`
	// Pending is how many posts the filter selects after the checkpoint.
	Pending int `json:"pending"`
	// Published is how many posts.enriched entries were added.
	Published    int  `json:"published"`
	Resumed      bool `json:"resumed"`
	LimitReached bool `json:"limit_reached"`
	DryRun       bool `json:"dry_run"`
	Retag        bool `json:"retag"`
}

// String is the one-line summary the CLI prints.
func (s ReindexSummary) String() string {
	if s.DryRun {
		what := "re-indexed"
		if s.Retag {
			what = "tagged again"
		}
		return fmt.Sprintf("reindex: %d posts would be %s (dry run, nothing written)", s.Pending, what)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "reindex: %d of %d posts published to %s", s.Published, s.Pending, s.Stream)
	if s.Resumed {
		b.WriteString(", resumed from the checkpoint")
	}
	if s.LimitReached {
		b.WriteString("; limit reached, run again to go on")
	}
	return b.String()
}

// Reindex rebuilds the vectors and graph nodes of stored posts without
// tagging them again: it reads the posts the filter selects from
// PostgreSQL (posts, their kind='tags' row and the stored crawl, if any) in
// post_id order and publishes one posts.enriched entry per post with
// reindex=true, which makes the index stage embed and write it even when
// its index_hash is unchanged. The running index stage does the work with
// its usual delivery guarantees, so a reindex is safe beside a running
// daemon (and needs one to take effect).
//
// Each batch's XADDs and the checkpoint (the last post_id published) go to
// Redis in one MULTI/EXEC: an interrupted run resumes after the last batch
// published. A run that completes forgets its checkpoint, so the next
// reindex starts from the beginning; Restart forgets it at the start.
// Expired posts (expires_at past) are left to cleanup.
func Reindex(ctx context.Context, opts ReindexOptions) (ReindexSummary, error) {
	if opts.Stream == "" {
		opts.Stream = "posts.enriched"
	}
	if opts.ParsedStream == "" {
		opts.ParsedStream = "posts.parsed"
	}
	stream, kind := opts.Stream, "reindex"
	if opts.Retag {
		stream, kind = opts.ParsedStream, "retag"
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultReindexBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sum := ReindexSummary{
		Stream:     opts.Keys.Stream(stream),
		Checkpoint: opts.Keys.Key("reindex:checkpoint:" + kind + ":" + opts.Filter.id()),
		Retag:      opts.Retag,
		DryRun:     opts.DryRun,
	}
	switch {
	case opts.Pool == nil:
		return sum, errors.New("reindex: no PostgreSQL pool")
	case opts.Redis == nil:
		return sum, errors.New("reindex: no Redis client")
	case opts.Filter.Empty():
		return sum, errors.New("reindex: no posts selected: give --since, --channel, --post-id or --all")
	case opts.Limit < 0:
		return sum, errors.New("reindex: the limit must not be negative")
	}
	if opts.Restart && !opts.DryRun {
		if err := opts.Redis.Del(ctx, sum.Checkpoint).Err(); err != nil {
			return sum, fmt.Errorf("reindex: forget checkpoint %s: %w", sum.Checkpoint, err)
		}
	}
	after := ""
	if !opts.Restart {
		cp, err := opts.Redis.Get(ctx, sum.Checkpoint).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return sum, fmt.Errorf("reindex: read checkpoint %s: %w", sum.Checkpoint, err)
		default:
			after, sum.Resumed = cp, true
		}
	}
	f := opts.Filter
	since := pgtype.Timestamptz{Time: f.Since, Valid: !f.Since.IsZero()}
	var channels, ids []string
	if len(f.Channels) > 0 {
		channels = f.Channels
	}
	if len(f.PostIDs) > 0 {
		ids = f.PostIDs
	}
	now := opts.Now()
	run := uuid.NewString() // names this run in retag entries
	if err := opts.Pool.QueryRow(ctx, `SELECT count(*) `+reindexFrom, after, since, channels, ids, now).Scan(&sum.Pending); err != nil {
		return sum, fmt.Errorf("reindex: count stored posts: %w", err)
	}
	logger.Info("reindex: starting", "pending", sum.Pending, "resumed", sum.Resumed, "after_post_id", after,
		"stream", sum.Stream, "checkpoint", sum.Checkpoint, "dry_run", opts.DryRun)
	if opts.DryRun {
		return sum, nil
	}
	for {
		n := opts.BatchSize
		if opts.Limit > 0 {
			n = min(n, opts.Limit-sum.Published)
		}
		batch, err := readReindexBatch(ctx, opts.Pool, after, since, channels, ids, now, n)
		if err != nil {
			return sum, fmt.Errorf("reindex: read stored posts after %q: %w (the checkpoint keeps what was published; run again to resume)", after, err)
		}
		if len(batch) == 0 {
			break
		}
		last := batch[len(batch)-1].PostID
		evs := make([]reindexEvent, len(batch))
		for i, ev := range batch {
			if opts.Retag {
				evs[i] = retagEvent(ev, run)
			} else {
				evs[i] = ev.PostEnriched
			}
		}
		if err := publishReindex(ctx, opts.Redis, sum.Stream, sum.Checkpoint, evs, last); err != nil {
			return sum, fmt.Errorf("reindex: %w (the checkpoint keeps what was published before; run again to resume)", err)
		}
		sum.Published += len(batch)
		after = last
		if opts.Limit > 0 && sum.Published >= opts.Limit {
			// The next run goes on from the checkpoint, unless this was
			// the very last post.
			more, err := readReindexBatch(ctx, opts.Pool, after, since, channels, ids, now, 1)
			if err != nil {
				return sum, fmt.Errorf("reindex: read stored posts after %q: %w", after, err)
			}
			if len(more) > 0 {
				sum.LimitReached = true
				logger.Info("reindex: limit reached", "published", sum.Published, "after_post_id", after)
				return sum, nil
			}
			break
		}
		if len(batch) < n {
			break
		}
	}
	if err := opts.Redis.Del(ctx, sum.Checkpoint).Err(); err != nil {
		return sum, fmt.Errorf("reindex: done, but forget checkpoint %s: %w", sum.Checkpoint, err)
	}
	logger.Info("reindex: finished", "published", sum.Published, "stream", sum.Stream)
	return sum, nil
}

// reindexFrom selects stored, unexpired posts that have a tags row (and
// their crawl row, if any), after
// the keyset position $1, by the filter ($2 since, $3 channels, $4 post ids;
// NULL: no filter) at the time $5.
const reindexFrom = `
FROM posts p
JOIN post_enrichment t ON t.post_id = p.post_id AND t.kind = 'tags'
LEFT JOIN post_enrichment c ON c.post_id = p.post_id AND c.kind = 'crawl'
WHERE p.post_id > $1
  AND ($2::timestamptz IS NULL OR p.posted_at >= $2 OR p.updated_at >= $2 OR t.updated_at >= $2)
  AND ($3::text[] IS NULL OR p.channel_id = ANY($3::text[]))
  AND ($4::text[] IS NULL OR p.post_id = ANY($4::text[]))
  AND (p.expires_at IS NULL OR p.expires_at > $5)`

// storedPage is the part of a crawled page (post_enrichment kind='crawl',
// written by the enrich stage) the index stage embeds and links.
type storedPage struct {
	URL           string `json:"url"`
	FinalURL      string `json:"final_url"`
	HTTPStatus    int    `json:"http_status"`
	Title         string `json:"title"`
	Markdown      string `json:"markdown"`
	WordCount     int    `json:"word_count"`
	ContentSHA256 string `json:"content_sha256"`
	Error         string `json:"error"`
}

// retagEvent is the posts.parsed entry that has the tag stage tag a stored
// post again.
func retagEvent(ev *storedPost, run string) *events.PostParsed {
	return &events.PostParsed{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1, TraceID: ev.TraceID, OccurredAt: ev.OccurredAt,
			IdempotencyKey: ev.PostID + ":retag:" + run,
		},
		PostID: ev.PostID, ChannelID: ev.ChannelID, TenantID: ev.TenantID, Text: ev.Text,
		PostedAt: ev.PostedAt, URLs: ev.URLs, ContentHash: ev.contentHash,
		ReceivedAt: ev.ReceivedAt, Retag: run,
	}
}

// reindexEvent is a posts.enriched or posts.parsed entry.
type reindexEvent interface {
	events.Event
	EventPostID() string
}

// storedPost is a stored post as its posts.enriched event, with the
// content hash a posts.parsed entry carries.
type storedPost struct {
	*events.PostEnriched
	contentHash string
}

// readReindexBatch reads up to n posts after the post id after and builds
// their posts.enriched events.
func readReindexBatch(ctx context.Context, pool *pgxpool.Pool, after string, since pgtype.Timestamptz, channels, ids []string, now time.Time, n int) ([]*storedPost, error) {
	rows, err := pool.Query(ctx, `
SELECT p.post_id, COALESCE(p.channel_id, ''), COALESCE(p.tenant_id, ''), COALESCE(p.text, ''),
       p.urls, p.posted_at, p.created_at, t.data, c.data, COALESCE(p.content_hash, ''), p.expires_at `+reindexFrom+`
ORDER BY p.post_id
LIMIT $6`, after, since, channels, ids, now, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	occurred := now.UTC()
	var out []*storedPost
	for rows.Next() {
		var (
			ev                  = &storedPost{PostEnriched: &events.PostEnriched{}}
			urls, tags, crawled []byte
			posted, expires     pgtype.Timestamptz
			created             time.Time
		)
		if err := rows.Scan(&ev.PostID, &ev.ChannelID, &ev.TenantID, &ev.Text, &urls, &posted, &created, &tags, &crawled, &ev.contentHash, &expires); err != nil {
			return nil, err
		}
		if len(urls) > 0 {
			if err := json.Unmarshal(urls, &ev.URLs); err != nil {
				return nil, fmt.Errorf("post %s: urls: %w", ev.PostID, err)
			}
		}
		var td struct {
			Tags     []string `json:"tags"`
			TagsHash string   `json:"tags_hash"`
		}
		if err := json.Unmarshal(tags, &td); err != nil {
			return nil, fmt.Errorf("post %s: tags row: %w", ev.PostID, err)
		}
		ev.Tags, ev.TagsHash = nonNil(td.Tags), td.TagsHash
		if ev.TagsHash == "" {
			ev.TagsHash = events.TagsHash(ev.Tags)
		}
		ev.URLs = nonNil(ev.URLs)
		ev.Crawl = []events.CrawlResult{}
		if len(crawled) > 0 {
			var cd struct {
				Pages []storedPage `json:"pages"`
			}
			if err := json.Unmarshal(crawled, &cd); err != nil {
				return nil, fmt.Errorf("post %s: crawl row: %w", ev.PostID, err)
			}
			for _, p := range cd.Pages {
				ev.Crawl = append(ev.Crawl, events.CrawlResult{
					URL: p.URL, FinalURL: p.FinalURL, Status: p.HTTPStatus, Title: p.Title,
					MarkdownExcerpt: firstChars(p.Markdown, maxPageChars), WordCount: p.WordCount,
					ContentSHA256: p.ContentSHA256, Error: p.Error,
				})
			}
		}
		ev.PostedAt = posted.Time
		// The row's creation is when persist first stored the post: the
		// receipt that posts.receipt_floor counts from.
		ev.ReceivedAt = created.UTC()
		// Every store keeps the stored post's expires_at.
		ev.ExpiresAt = expires.Time
		ev.Reindex = true
		ev.SchemaVersion = events.SchemaV1
		ev.TraceID = uuid.NewString()
		ev.OccurredAt = occurred
		ev.IdempotencyKey = ev.PostID + ":reindex:" + ev.TagsHash + ":" + occurred.Format(time.RFC3339Nano)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// publishReindex adds the batch's events to the stream and moves the
// checkpoint to last in one MULTI/EXEC: either the whole batch and its
// checkpoint are in Redis, or neither is.
func publishReindex(ctx context.Context, rdb redis.UniversalClient, stream, checkpoint string, evs []reindexEvent, last string) error {
	_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, ev := range evs {
			values, err := events.Encode(ev)
			if err != nil {
				return fmt.Errorf("post %s: %w", ev.EventPostID(), err)
			}
			// No MAXLEN: a cap would silently drop entries the index
			// stage has not read yet.
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
		}
		pipe.Set(ctx, checkpoint, last, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %d posts to %s: %w", len(evs), stream, err)
	}
	return nil
}
