package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
)

// upsertTaggedSQL writes a batch's posts rows and kind='tags' rows in one
// statement and reports what it did to the tags rows. One statement rather
// than one per table: the batch's ids and times are sent and unnested once,
// and each post's stored tags row is looked up once for both writes.
//
// posts: an empty value (NULLIF) or a missing time is "not carried" and never
// overwrites what is stored, because an external ingest may own the same
// rows. A post whose stored tags come from a newer event is left alone: its
// columns are newer than this event's. The WHERE of DO UPDATE skips no-op
// updates so a redelivered event writes nothing.
//
// tags: they change only when tags_hash differs (or the row is not 'ok'),
// and only from an event at least as new as the stored one
// (source_occurred_at). An event with the same tags that is newer than the
// stored one advances source_occurred_at alone — data and updated_at stay —
// so that a later delivery of an event in between cannot install tags that
// were already superseded. A redelivery of the stored event writes nothing
// at all. A missing time on either side cannot be ordered and does not block.
//
// Every part of a statement sees the same snapshot, so prior is the stored
// row before this statement, which tells a replaced row (different tags
// before) from a refreshed one; a data-modifying WITH part runs to
// completion whether or not anything reads it (posts_written).
//
// prior looks stored rows up with LATERAL (… LIMIT 1): a subquery with LIMIT
// is not flattened into a join, so the lookup stays one primary-key probe per
// input row whatever the planner believes about the table. A plain join let
// a generic plan on a table without fresh statistics hash the whole
// kind='tags' set on every batch, which grew with the table.
const upsertTaggedSQL = `
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::text[])
         AS u(post_id, channel_id, tenant_id, text, urls, posted_at, content_hash, occurred_at, expires_at,
              data, data_hash, provider)
),
prior AS (
    SELECT i.post_id, s.data_hash, s.source_occurred_at
    FROM input i CROSS JOIN LATERAL (
        SELECT e.data_hash, e.source_occurred_at FROM post_enrichment e
        WHERE e.post_id = i.post_id AND e.kind = 'tags' LIMIT 1) s
),
posts_written AS (
    INSERT INTO posts AS p (post_id, channel_id, tenant_id, text, urls, posted_at, expires_at, content_hash)
    SELECT i.post_id,
           NULLIF(i.channel_id, ''),
           NULLIF(i.tenant_id, ''),
           NULLIF(i.text, ''),
           NULLIF(i.urls, '')::jsonb,
           i.posted_at,
           i.expires_at,
           NULLIF(i.content_hash, '')
    FROM input i LEFT JOIN prior s ON s.post_id = i.post_id
    WHERE (s.source_occurred_at > i.occurred_at) IS NOT TRUE
    ON CONFLICT (post_id) DO UPDATE SET
        channel_id   = COALESCE(EXCLUDED.channel_id, p.channel_id),
        tenant_id    = COALESCE(EXCLUDED.tenant_id, p.tenant_id),
        text         = COALESCE(EXCLUDED.text, p.text),
        urls         = COALESCE(EXCLUDED.urls, p.urls),
        posted_at    = COALESCE(EXCLUDED.posted_at, p.posted_at),
        expires_at   = COALESCE(EXCLUDED.expires_at, p.expires_at),
        content_hash = COALESCE(EXCLUDED.content_hash, p.content_hash),
        updated_at   = now()
    WHERE (COALESCE(EXCLUDED.channel_id, p.channel_id), COALESCE(EXCLUDED.tenant_id, p.tenant_id),
           COALESCE(EXCLUDED.text, p.text), COALESCE(EXCLUDED.urls, p.urls),
           COALESCE(EXCLUDED.posted_at, p.posted_at), COALESCE(EXCLUDED.expires_at, p.expires_at),
           COALESCE(EXCLUDED.content_hash, p.content_hash))
          IS DISTINCT FROM
          (p.channel_id, p.tenant_id, p.text, p.urls, p.posted_at, p.expires_at, p.content_hash)
),
written AS (
    INSERT INTO post_enrichment AS e (post_id, kind, provider, data, data_hash, status, error, source_occurred_at)
    SELECT post_id, 'tags', NULLIF(provider, ''), data::jsonb, data_hash, 'ok', NULL, occurred_at FROM input
    ON CONFLICT (post_id, kind) DO UPDATE SET
        provider   = CASE WHEN (e.data_hash, e.status) IS DISTINCT FROM (EXCLUDED.data_hash, 'ok')
                          THEN EXCLUDED.provider ELSE e.provider END,
        data       = CASE WHEN (e.data_hash, e.status) IS DISTINCT FROM (EXCLUDED.data_hash, 'ok')
                          THEN EXCLUDED.data ELSE e.data END,
        updated_at = CASE WHEN (e.data_hash, e.status) IS DISTINCT FROM (EXCLUDED.data_hash, 'ok')
                          THEN now() ELSE e.updated_at END,
        data_hash  = EXCLUDED.data_hash,
        status     = 'ok',
        error      = NULL,
        source_occurred_at = GREATEST(e.source_occurred_at, EXCLUDED.source_occurred_at)
    WHERE (e.source_occurred_at IS NULL OR EXCLUDED.source_occurred_at IS NULL
           OR e.source_occurred_at <= EXCLUDED.source_occurred_at)
      AND ((e.data_hash, e.status) IS DISTINCT FROM (EXCLUDED.data_hash, 'ok')
           OR COALESCE(EXCLUDED.source_occurred_at > e.source_occurred_at, EXCLUDED.source_occurred_at IS NOT NULL))
    RETURNING e.post_id, e.data_hash, (e.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE w.inserted),
       count(*) FILTER (WHERE NOT w.inserted AND p.data_hash IS DISTINCT FROM w.data_hash),
       count(*) FILTER (WHERE NOT w.inserted AND p.data_hash IS NOT DISTINCT FROM w.data_hash),
       (SELECT count(*) FROM input i JOIN prior p2 ON p2.post_id = i.post_id
        WHERE p2.source_occurred_at > i.occurred_at)
FROM written w LEFT JOIN prior p ON p.post_id = w.post_id`

// UpsertResult counts what one UpsertTagged did to the tags rows.
type UpsertResult struct {
	// Inserted rows did not exist.
	Inserted int
	// Replaced rows held different tags and were overwritten
	// (tags_persist_conflicts_total).
	Replaced int
	// Refreshed rows held the same tags; only the newer source time (or the
	// status) was recorded, data and updated_at were kept.
	Refreshed int
	// Stale events were older than the stored row and changed nothing.
	Stale int
	// Unchanged events found the row already up to date (a redelivery).
	Unchanged int
}

// Add adds the counts of o to r (the writes of a split batch).
func (r *UpsertResult) Add(o UpsertResult) {
	r.Inserted += o.Inserted
	r.Replaced += o.Replaced
	r.Refreshed += o.Refreshed
	r.Stale += o.Stale
	r.Unchanged += o.Unchanged
}

// Repository writes and reads the daemon's tables through a pool.
type Repository struct {
	pool    *pgxpool.Pool
	columns sync.Pool // *tagColumns, reused across batches
}

// NewRepository returns a repository on pool. Statement tracing, if any, is
// configured on the pool (see WithTracer).
func NewRepository(pool *pgxpool.Pool) *Repository {
	return &Repository{pool: pool}
}

// Pool returns the pool the repository uses.
func (r *Repository) Pool() *pgxpool.Pool { return r.pool }

// Ping checks that Postgres answers.
func (r *Repository) Ping(ctx context.Context) error {
	if err := r.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// UpsertTagged stores a batch of posts.tagged events with one multi-row
// statement (upsertTaggedSQL: posts and post_enrichment kind='tags'), one
// round trip and its own implicit transaction: a failure leaves neither
// table written. No BEGIN/COMMIT, so no second round trip (persist was 0.7×
// a raw upsert with them). The events must
// have distinct post ids (two rows for one key in one statement is an error
// in Postgres); the caller keeps the newest event of each post.
//
// expires_at is retention.ExpiresAt(posted_at, received_at) (ReceivedAt),
// the instant the index stage writes to the vector and graph stores too;
// retention.Retention <= 0 leaves it unset. A
// zero OccurredAt is an unknown time: it neither blocks nor is blocked.
func (r *Repository) UpsertTagged(ctx context.Context, events []*events.PostTagged, retention config.Posts) (UpsertResult, error) {
	var res UpsertResult
	if len(events) == 0 {
		return res, nil
	}
	cols, _ := r.columns.Get().(*tagColumns)
	if cols == nil {
		cols = &tagColumns{}
	}
	defer r.columns.Put(cols)
	cols.fill(events, retention, time.Now())

	var inserted, replaced, refreshed, stale int64
	err := r.pool.QueryRow(ctx, upsertTaggedSQL, cols.postIDs, cols.channelIDs, cols.tenantIDs, cols.texts, cols.urls,
		cols.postedAt, cols.contentHashes, cols.occurredAt, cols.expiresAt, cols.data, cols.tagsHashes, cols.providers).
		Scan(&inserted, &replaced, &refreshed, &stale)
	if err != nil {
		return res, fmt.Errorf("upsert %d tagged posts: %w", len(events), err)
	}
	res = UpsertResult{Inserted: int(inserted), Replaced: int(replaced), Refreshed: int(refreshed), Stale: int(stale)}
	res.Unchanged = len(events) - res.Inserted - res.Replaced - res.Refreshed - res.Stale
	return res, nil
}

// tagColumns are the per-column parameter arrays of one UpsertTagged call.
// They are reused between batches; the JSON of every row is appended to one
// buffer and the columns hold sub-slices of it, so a batch costs a handful
// of allocations rather than several per row.
type tagColumns struct {
	postIDs, channelIDs, tenantIDs, texts []string
	contentHashes, tagsHashes, providers  []string
	urls, data                            [][]byte
	postedAt, occurredAt, expiresAt       []pgtype.Timestamptz
	json                                  []byte
	spans                                 []jsonSpan
}

// jsonSpan locates one row's urls and data documents in tagColumns.json.
type jsonSpan struct{ urlsStart, urlsEnd, dataEnd int }

func (c *tagColumns) fill(events []*events.PostTagged, retention config.Posts, now time.Time) {
	c.postIDs, c.channelIDs, c.tenantIDs, c.texts = c.postIDs[:0], c.channelIDs[:0], c.tenantIDs[:0], c.texts[:0]
	c.contentHashes, c.tagsHashes, c.providers = c.contentHashes[:0], c.tagsHashes[:0], c.providers[:0]
	c.urls, c.data = c.urls[:0], c.data[:0]
	c.postedAt, c.occurredAt, c.expiresAt = c.postedAt[:0], c.occurredAt[:0], c.expiresAt[:0]
	c.json = c.json[:0]

	// Sub-slices are taken once the buffer has stopped growing, so record
	// offsets first.
	c.spans = c.spans[:0]
	for _, ev := range events {
		var sp jsonSpan
		sp.urlsStart = len(c.json)
		if len(ev.URLs) > 0 { // an empty list is "not carried": it must not clear stored urls
			c.json = appendJSONStrings(c.json, ev.URLs)
		}
		sp.urlsEnd = len(c.json)
		c.json = appendTagsData(c.json, ev)
		sp.dataEnd = len(c.json)
		c.spans = append(c.spans, sp)

		c.postIDs = append(c.postIDs, pgText(ev.PostID))
		c.channelIDs = append(c.channelIDs, pgText(ev.ChannelID))
		c.tenantIDs = append(c.tenantIDs, pgText(ev.TenantID))
		c.texts = append(c.texts, pgText(ev.Text))
		c.contentHashes = append(c.contentHashes, pgText(ev.ContentHash))
		c.tagsHashes = append(c.tagsHashes, pgText(ev.TagsHash))
		c.providers = append(c.providers, pgText(ev.Provider))
		c.postedAt = append(c.postedAt, timestamptz(ev.PostedAt))
		c.occurredAt = append(c.occurredAt, timestamptz(ev.OccurredAt))
		var exp time.Time
		// An event without posted_at (a sparse update) carries no expiry:
		// the stored row keeps its own.
		if retention.Retention > 0 && !ev.PostedAt.IsZero() {
			exp = retention.ExpiresAt(ev.PostedAt, ReceivedAt(ev, now))
		}
		c.expiresAt = append(c.expiresAt, timestamptz(exp))
	}
	for _, sp := range c.spans {
		c.urls = append(c.urls, c.json[sp.urlsStart:sp.urlsEnd])
		c.data = append(c.data, c.json[sp.urlsEnd:sp.dataEnd])
	}
}

// ReceivedAt is when the daemon received the tagged post: the event's
// received_at, else (an older producer) when the event was produced, else
// now. Retention's receipt floor counts from it.
func ReceivedAt(ev *events.PostTagged, now time.Time) time.Time {
	switch {
	case !ev.ReceivedAt.IsZero():
		return ev.ReceivedAt
	case !ev.OccurredAt.IsZero():
		return ev.OccurredAt
	}
	return now
}

func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// pgText makes s storable in a text column: Postgres refuses NUL bytes and
// invalid UTF-8, and one such value would fail the whole batch forever.
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// appendTagsData appends the data document of a tags row:
// {tags, tags_hash, provider, model, prompt_version, latency_ms, trace_id}
// and tenant_id when the post has one.
func appendTagsData(dst []byte, ev *events.PostTagged) []byte {
	dst = append(dst, `{"tags":`...)
	dst = appendJSONStrings(dst, ev.Tags)
	dst = append(dst, `,"tags_hash":`...)
	dst = appendJSONString(dst, ev.TagsHash)
	dst = append(dst, `,"provider":`...)
	dst = appendJSONString(dst, ev.Provider)
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, ev.Model)
	dst = append(dst, `,"prompt_version":`...)
	dst = appendJSONString(dst, ev.PromptVersion)
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendInt(dst, ev.LatencyMS, 10)
	dst = append(dst, `,"trace_id":`...)
	dst = appendJSONString(dst, ev.TraceID)
	if ev.TenantID != "" {
		// The old system's enrichment and indexing code reads
		// data->>'tenant_id'.
		dst = append(dst, `,"tenant_id":`...)
		dst = appendJSONString(dst, ev.TenantID)
	}
	return append(dst, '}')
}

func appendJSONStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendJSONString appends s as a JSON string. NUL is dropped rather than
// escaped because jsonb refuses \u0000; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == 0:
			// dropped, see above
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}
