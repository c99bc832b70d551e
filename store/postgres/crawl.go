package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CrawlRow is a post_enrichment row of kind 'crawl': the crawled pages of
// one post (written by the enrich stage).
type CrawlRow struct {
	PostID string
	// Provider is the crawl backend (builtin or crawl4ai).
	Provider string
	// Data is the row's JSON document; DataHash identifies its content (the
	// row is rewritten only when it changes).
	Data     []byte
	DataHash string
	Status   string // ok | partial | error
	Error    string
	// SourceOccurredAt is occurred_at of the event that produced the row:
	// an older event never overwrites a newer row.
	SourceOccurredAt time.Time
}

// UpsertCrawl writes a crawl row unless the stored one already has the same
// data_hash or comes from a newer event. It reports whether a row was
// written (inserted or changed).
func (r *Repository) UpsertCrawl(ctx context.Context, row CrawlRow) (bool, error) {
	var errText *string
	if row.Error != "" {
		errText = &row.Error
	}
	var inserted bool
	err := r.pool.QueryRow(ctx, `
INSERT INTO post_enrichment AS pe
       (post_id, kind, provider, data, data_hash, status, error, source_occurred_at)
VALUES ($1, 'crawl', $2, $3::jsonb, $4, $5, $6, $7)
ON CONFLICT (post_id, kind) DO UPDATE
   SET provider = EXCLUDED.provider, data = EXCLUDED.data, data_hash = EXCLUDED.data_hash,
       status = EXCLUDED.status, error = EXCLUDED.error,
       source_occurred_at = EXCLUDED.source_occurred_at, updated_at = now()
 WHERE pe.data_hash IS DISTINCT FROM EXCLUDED.data_hash
   AND (pe.source_occurred_at IS NULL OR EXCLUDED.source_occurred_at IS NULL
        OR pe.source_occurred_at <= EXCLUDED.source_occurred_at)
RETURNING (xmax = 0)`,
		row.PostID, row.Provider, string(row.Data), row.DataHash, row.Status, errText,
		timestamptz(row.SourceOccurredAt)).Scan(&inserted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // up to date, or a newer row is stored
	}
	if err != nil {
		return false, fmt.Errorf("upsert crawl row of post %s: %w", row.PostID, err)
	}
	return true, nil
}
