package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/search/vecindex"
)

// Similar returns posts similar to postID by its stored vector ("more like
// this"), under q's filters; q.Text is ignored.
func (s *Service) Similar(ctx context.Context, postID string, q Query) (*Page, error) {
	start := time.Now()
	if !s.Semantic() {
		return nil, ErrNoVectors
	}
	q.Text = "-"
	if err := s.normalizeQuery(&q); err != nil {
		return nil, err
	}
	q.Text = ""
	if _, err := s.GetPost(ctx, postID); err != nil {
		return nil, err
	}
	vec, ok, err := s.vectors.VectorOf(ctx, postID)
	if err != nil {
		return nil, fmt.Errorf("vector of %s: %w", postID, err)
	}
	if !ok {
		return nil, fmt.Errorf("post %s has no vector yet: %w", postID, ErrNotFound)
	}
	list, err := s.nearest(ctx, &q, vec, q.Offset+q.Limit+1, nil, postID)
	if err != nil {
		return nil, err
	}
	page := &Page{Mode: Semantic, Results: []Result{}}
	if q.Offset < len(list) {
		end := min(q.Offset+q.Limit, len(list))
		if page.Results, err = s.hydrate(ctx, "", "", list[q.Offset:end]); err != nil {
			return nil, err
		}
		if end < len(list) {
			page.NextCursor = encodeCursor(end)
		}
	}
	page.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return page, nil
}

// TagCount is a tag and the number of live posts it shares with another.
type TagCount struct {
	Tag   string `json:"tag"`
	Posts int    `json:"posts"`
}

// RelatedTags returns the tags that co-occur with tag on live posts, most
// shared posts first (case-insensitive, ё = е; the most common spelling is
// reported).
func (s *Service) RelatedTags(ctx context.Context, tag string, limit int) ([]TagCount, error) {
	return s.RelatedTagsOfTenant(ctx, tag, "", limit)
}

// RelatedTagsOfTenant is RelatedTags over one tenant's posts (every
// tenant's when tenantID is empty).
func (s *Service) RelatedTagsOfTenant(ctx context.Context, tag, tenantID string, limit int) ([]TagCount, error) {
	tag = foldTag(tag)
	if tag == "" {
		return nil, fmt.Errorf("%w: empty tag", ErrBadQuery)
	}
	if limit <= 0 {
		limit = 20
	}
	if limit > s.opts.MaxLimit {
		return nil, fmt.Errorf("%w: limit %d is over the maximum %d", ErrBadQuery, limit, s.opts.MaxLimit)
	}
	rows, err := s.pool.Query(ctx, `
WITH t AS (
  SELECT DISTINCT e.post_id, translate(lower(g), 'ё', 'е') AS tag, g AS spelled
  FROM post_enrichment e
  JOIN posts p ON p.post_id = e.post_id AND (p.expires_at IS NULL OR p.expires_at > now())
       AND ($3 = '' OR p.tenant_id = $3)
  CROSS JOIN jsonb_array_elements_text(e.data->'tags') g
  WHERE e.kind = 'tags'
)
SELECT mode() WITHIN GROUP (ORDER BY o.spelled), count(DISTINCT o.post_id)::int
FROM t a JOIN t o ON o.post_id = a.post_id AND o.tag <> a.tag
WHERE a.tag = $1
GROUP BY o.tag
ORDER BY 2 DESC, 1
LIMIT $2`, tag, limit, tenantID)
	if err != nil {
		return nil, fmt.Errorf("related tags of %q: %w", tag, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TagCount])
	if err != nil {
		return nil, fmt.Errorf("related tags of %q: %w", tag, err)
	}
	if out == nil {
		out = []TagCount{}
	}
	return out, nil
}

// Enrichment is one post_enrichment row of a post.
type Enrichment struct {
	Kind      string          `json:"kind"`
	Provider  string          `json:"provider,omitempty"`
	Status    string          `json:"status"`
	Error     string          `json:"error,omitempty"`
	Data      json.RawMessage `json:"data"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Post is a post with every enrichment.
type Post struct {
	PostID      string       `json:"post_id"`
	ChannelID   string       `json:"channel_id"`
	TenantID    string       `json:"tenant_id,omitempty"`
	Text        string       `json:"text"`
	PostedAt    time.Time    `json:"posted_at"`
	ExpiresAt   *time.Time   `json:"expires_at,omitempty"`
	ContentHash string       `json:"content_hash,omitempty"`
	Tags        []string     `json:"tags"`
	URLs        []Link       `json:"urls"`
	Enrichments []Enrichment `json:"enrichments"`
}

// GetPost reads a live post and all its enrichments; an unknown or expired
// post is ErrNotFound.
func (s *Service) GetPost(ctx context.Context, postID string) (*Post, error) {
	return s.GetPostOfTenant(ctx, postID, "")
}

// GetPostOfTenant is GetPost for a reader of one tenant: a post of another
// tenant is ErrNotFound, exactly like a missing one. An empty tenantID
// reads every tenant.
func (s *Service) GetPostOfTenant(ctx context.Context, postID, tenantID string) (*Post, error) {
	var (
		p                  Post
		postedAt           *time.Time
		urls, tags, crawls []byte
	)
	err := s.pool.QueryRow(ctx, `
SELECT p.post_id, coalesce(p.channel_id, ''), coalesce(p.tenant_id, ''), coalesce(p.text, ''),
       p.posted_at, p.expires_at, coalesce(p.content_hash, ''), coalesce(p.urls, '[]'::jsonb),
       coalesce((SELECT data->'tags' FROM post_enrichment WHERE post_id = p.post_id AND kind = 'tags'), '[]'::jsonb),
       (SELECT jsonb_agg(jsonb_build_object('url', o->>'url', 'title', o->>'title', 'final_url', o->>'final_url'))
          FROM post_enrichment c, jsonb_path_query(c.data, 'strict $.** ? (@.url.type() == "string")') o
          WHERE c.post_id = p.post_id AND c.kind = 'crawl')
FROM posts p
WHERE p.post_id = $1 AND (p.expires_at IS NULL OR p.expires_at > now())
  AND ($2 = '' OR p.tenant_id = $2)`, postID, tenantID).Scan(
		&p.PostID, &p.ChannelID, &p.TenantID, &p.Text, &postedAt, &p.ExpiresAt, &p.ContentHash, &urls, &tags, &crawls)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("post %s: %w", postID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read post %s: %w", postID, err)
	}
	if postedAt != nil {
		p.PostedAt = postedAt.UTC()
	}
	p.Tags = []string{}
	_ = json.Unmarshal(tags, &p.Tags)
	p.URLs = links(urls, crawls)
	rows, err := s.pool.Query(ctx, `
SELECT kind, coalesce(provider, ''), status, coalesce(error, ''), data, updated_at
FROM post_enrichment WHERE post_id = $1 ORDER BY kind`, postID)
	if err != nil {
		return nil, fmt.Errorf("read enrichments of %s: %w", postID, err)
	}
	p.Enrichments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Enrichment, error) {
		var e Enrichment
		var data []byte
		err := r.Scan(&e.Kind, &e.Provider, &e.Status, &e.Error, &data, &e.UpdatedAt)
		e.Data = json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read enrichments of %s: %w", postID, err)
	}
	if p.Enrichments == nil {
		p.Enrichments = []Enrichment{}
	}
	return &p, nil
}

// IndexVectors serves Vectors from an in-memory vecindex.Index (the
// embedded backend's fast path).
type IndexVectors struct{ Index *vecindex.Index }

// Nearest implements Vectors.
func (v IndexVectors) Nearest(ctx context.Context, vec []float32, k int, f VectorFilter) ([]VectorHit, error) {
	hits, err := v.Index.Search(ctx, vec, k, indexFilter(f))
	if err != nil {
		return nil, err
	}
	out := make([]VectorHit, len(hits))
	for i, h := range hits {
		out[i] = VectorHit{PostID: h.ID, Score: float64(h.Score)}
	}
	return out, nil
}

// VectorOf implements Vectors.
func (v IndexVectors) VectorOf(_ context.Context, postID string) ([]float32, bool, error) {
	vec, ok := v.Index.Vector(postID)
	return vec, ok, nil
}

// splitList splits comma-separated values and drops empty ones.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// SplitList is splitList for callers (CLI flags, query parameters).
func SplitList(vals ...string) []string { return splitList(vals) }
