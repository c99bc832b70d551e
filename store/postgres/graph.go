package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/store"
)

// GraphStore is the embedded store.GraphStore: the spec's graph as tables
// (migration 00005). Node tables graph_channels, graph_posts, graph_tags
// and web_pages; edge tables post_tags (TAGGED_AS) and post_links
// (REFERS_TO); HAS_POST is graph_posts.channel_id. Edges reference their
// nodes with ON DELETE CASCADE, so deleting a post deletes its edges and an
// orphan sweep can never remove a node an edge still uses.
type GraphStore struct {
	pool *pgxpool.Pool
}

var _ store.GraphStore = (*GraphStore)(nil)

// NewGraphStore returns the store over pool (migrated).
func NewGraphStore(pool *pgxpool.Pool) *GraphStore { return &GraphStore{pool: pool} }

// EnsureSchema implements store.GraphStore: the tables come from the
// migrations, so it only checks they are there.
func (g *GraphStore) EnsureSchema(ctx context.Context) error {
	var ok bool
	err := g.pool.QueryRow(ctx, `SELECT to_regclass('post_tags') IS NOT NULL AND to_regclass('post_links') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return fmt.Errorf("postgres graph store: %w", err)
	}
	if !ok {
		return fmt.Errorf("postgres graph store: graph tables are missing: run `assistant migrate` (migration 00005)")
	}
	return nil
}

// graphBatch is a batch of posts flattened into column arrays, every list
// sorted by key so that concurrent batches lock rows in the same order (no
// deadlocks between workers that share a channel or a tag).
type graphBatch struct {
	postIDs, channels, tenants []string
	posted, expires            []pgtype.Timestamptz

	chanIDs, chanTenants []string
	tags                 []string
	tagPosts, tagNames   []string
	pageURLs, pageTitles []string
	linkPosts, linkURLs  []string
}

func flatten(posts []store.GraphPost) graphBatch {
	// The last version of a post in the batch wins.
	byID := make(map[string]store.GraphPost, len(posts))
	for _, p := range posts {
		byID[p.PostID] = p
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b graphBatch
	chans := map[string]string{}
	tags := map[string]bool{}
	pages := map[string]string{}
	for _, id := range ids {
		p := byID[id]
		b.postIDs = append(b.postIDs, id)
		b.channels = append(b.channels, p.ChannelID)
		b.tenants = append(b.tenants, p.TenantID)
		b.posted = append(b.posted, pgTime(p.PostedAt))
		b.expires = append(b.expires, pgTime(p.ExpiresAt))
		if p.ChannelID != "" {
			if chans[p.ChannelID] == "" {
				chans[p.ChannelID] = p.TenantID
			}
		}
		seen := map[string]bool{}
		for _, t := range p.Tags {
			if t == "" || seen[t] {
				continue
			}
			seen[t] = true
			tags[t] = true
			b.tagPosts = append(b.tagPosts, id)
			b.tagNames = append(b.tagNames, t)
		}
		seen = map[string]bool{}
		for _, pg := range p.Pages {
			if pg.URL == "" || seen[pg.URL] {
				continue
			}
			seen[pg.URL] = true
			if pages[pg.URL] == "" {
				pages[pg.URL] = pg.Title
			}
			b.linkPosts = append(b.linkPosts, id)
			b.linkURLs = append(b.linkURLs, pg.URL)
		}
	}
	for _, c := range sortedKeys(chans) {
		b.chanIDs = append(b.chanIDs, c)
		b.chanTenants = append(b.chanTenants, chans[c])
	}
	for t := range tags {
		b.tags = append(b.tags, t)
	}
	slices.Sort(b.tags)
	for _, u := range sortedKeys(pages) {
		b.pageURLs = append(b.pageURLs, u)
		b.pageTitles = append(b.pageTitles, pages[u])
	}
	return b
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func pgTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// UpsertPosts implements store.GraphStore: one transaction, its statements
// pipelined in one round trip; the stale edges of every post in the batch
// are deleted in the same transaction as the new ones are written.
func (g *GraphStore) UpsertPosts(ctx context.Context, posts []store.GraphPost) (store.GraphCounts, error) {
	if len(posts) == 0 {
		return store.GraphCounts{}, nil
	}
	b := flatten(posts)
	batch := &pgx.Batch{}
	batch.Queue(`
		INSERT INTO graph_channels (channel_id, tenant_id)
		SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (channel_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, updated_at = now()
		WHERE EXCLUDED.tenant_id <> '' AND graph_channels.tenant_id IS DISTINCT FROM EXCLUDED.tenant_id`,
		b.chanIDs, b.chanTenants)
	batch.Queue(`
		INSERT INTO graph_posts (post_id, channel_id, tenant_id, posted_at, expires_at)
		SELECT u.post_id, NULLIF(u.channel_id, ''), u.tenant_id, u.posted_at, u.expires_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
		     AS u(post_id, channel_id, tenant_id, posted_at, expires_at)
		ON CONFLICT (post_id) DO UPDATE SET channel_id = EXCLUDED.channel_id, tenant_id = EXCLUDED.tenant_id,
		    posted_at = EXCLUDED.posted_at, expires_at = EXCLUDED.expires_at, updated_at = now()`,
		b.postIDs, b.channels, b.tenants, b.posted, b.expires)
	batch.Queue(`INSERT INTO graph_tags (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, b.tags)
	batch.Queue(`
		INSERT INTO web_pages (url, title) SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (url) DO UPDATE SET title = EXCLUDED.title, updated_at = now()
		WHERE EXCLUDED.title <> '' AND web_pages.title IS DISTINCT FROM EXCLUDED.title`,
		b.pageURLs, b.pageTitles)
	// Stale edges: those of the batch's posts that the new sets lack.
	batch.Queue(`
		DELETE FROM post_tags pt WHERE pt.post_id = ANY($1::text[])
		AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS n(post_id, tag)
		                WHERE n.post_id = pt.post_id AND n.tag = pt.tag)`,
		b.postIDs, b.tagPosts, b.tagNames)
	batch.Queue(`
		INSERT INTO post_tags (post_id, tag) SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT DO NOTHING`, b.tagPosts, b.tagNames)
	batch.Queue(`
		DELETE FROM post_links pl WHERE pl.post_id = ANY($1::text[])
		AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS n(post_id, url)
		                WHERE n.post_id = pl.post_id AND n.url = pl.url)`,
		b.postIDs, b.linkPosts, b.linkURLs)
	batch.Queue(`
		INSERT INTO post_links (post_id, url) SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT DO NOTHING`, b.linkPosts, b.linkURLs)

	err := pgx.BeginFunc(ctx, g.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return store.GraphCounts{}, fmt.Errorf("postgres graph store: upsert %d posts: %w", len(b.postIDs), err)
	}
	hasPost := 0
	for _, c := range b.channels {
		if c != "" {
			hasPost++
		}
	}
	return store.GraphCounts{
		Nodes:         len(b.postIDs) + len(b.chanIDs) + len(b.tags) + len(b.pageURLs),
		Relationships: hasPost + len(b.tagPosts) + len(b.linkPosts),
	}, nil
}

func (g *GraphStore) queryIDs(ctx context.Context, what, q string, args ...any) ([]string, error) {
	rows, err := g.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres graph store: %s: %w", what, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres graph store: %s: %w", what, err)
	}
	return ids, nil
}

// PostsWithTag implements store.GraphStore.
func (g *GraphStore) PostsWithTag(ctx context.Context, q store.TagQuery) ([]string, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	return g.queryIDs(ctx, "posts with tag", `
		SELECT p.post_id FROM post_tags pt JOIN graph_posts p ON p.post_id = pt.post_id
		WHERE pt.tag = $1 AND ($2 = '' OR p.tenant_id = $2)
		ORDER BY p.posted_at DESC NULLS LAST, p.post_id LIMIT $3`, q.Tag, q.TenantID, q.Limit)
}

// RelatedTags implements store.GraphStore: tags by the number of posts they
// share with tag.
func (g *GraphStore) RelatedTags(ctx context.Context, tag string, limit int) ([]store.TagCount, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := g.pool.Query(ctx, `
		SELECT b.tag, count(*) FROM post_tags a JOIN post_tags b ON b.post_id = a.post_id AND b.tag <> a.tag
		WHERE a.tag = $1 GROUP BY b.tag ORDER BY count(*) DESC, b.tag LIMIT $2`, tag, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres graph store: related tags: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.TagCount, error) {
		var tc store.TagCount
		err := r.Scan(&tc.Tag, &tc.Posts)
		return tc, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres graph store: related tags: %w", err)
	}
	return out, nil
}

// PostsLinking implements store.GraphStore.
func (g *GraphStore) PostsLinking(ctx context.Context, url string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	return g.queryIDs(ctx, "posts linking", `
		SELECT p.post_id FROM post_links pl JOIN graph_posts p ON p.post_id = pl.post_id
		WHERE pl.url = $1 ORDER BY p.posted_at DESC NULLS LAST, p.post_id LIMIT $2`, url, limit)
}

// DeletePosts implements store.GraphStore; the edges go with the posts
// (ON DELETE CASCADE).
func (g *GraphStore) DeletePosts(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := g.pool.Exec(ctx, `DELETE FROM graph_posts WHERE post_id = ANY($1::text[])`, ids)
	if err != nil {
		return 0, fmt.Errorf("postgres graph store: delete %d posts: %w", len(ids), err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpired implements store.GraphStore.
func (g *GraphStore) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := g.pool.Exec(ctx, `
		DELETE FROM graph_posts WHERE post_id IN (
		    SELECT post_id FROM graph_posts WHERE expires_at < $1
		    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres graph store: delete expired posts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteOrphans implements store.GraphStore. A tag or page that a
// concurrent upsert is linking is locked by that upsert's foreign-key check,
// so it is either kept or the upsert fails and is retried (recreating it).
func (g *GraphStore) DeleteOrphans(ctx context.Context, limit int) (store.OrphanCounts, error) {
	var c store.OrphanCounts
	if limit <= 0 {
		return c, nil
	}
	err := g.pool.QueryRow(ctx, `
		WITH t AS (DELETE FROM graph_tags WHERE name IN (
		         SELECT name FROM graph_tags gt WHERE NOT EXISTS (SELECT 1 FROM post_tags pt WHERE pt.tag = gt.name)
		         LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1),
		     c AS (DELETE FROM graph_channels WHERE channel_id IN (
		         SELECT channel_id FROM graph_channels gc WHERE NOT EXISTS (SELECT 1 FROM graph_posts p WHERE p.channel_id = gc.channel_id)
		         LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1),
		     w AS (DELETE FROM web_pages WHERE url IN (
		         SELECT url FROM web_pages wp WHERE NOT EXISTS (SELECT 1 FROM post_links pl WHERE pl.url = wp.url)
		         LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1)
		SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM c), (SELECT count(*) FROM w)`, limit).
		Scan(&c.Tags, &c.Channels, &c.WebPages)
	if err != nil {
		return store.OrphanCounts{}, fmt.Errorf("postgres graph store: delete orphans: %w", err)
	}
	return c, nil
}

// Check implements store.GraphStore.
func (g *GraphStore) Check(ctx context.Context) error {
	if err := g.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres graph store: %w", err)
	}
	return nil
}
