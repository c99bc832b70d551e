package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrNotFound is returned by the read helpers when no row matches.
var ErrNotFound = errors.New("not found")

// Post is a row of posts. Text columns that are NULL read as "", times as
// the zero time, urls as nil.
type Post struct {
	PostID      string
	ChannelID   string
	TenantID    string
	Text        string
	URLs        []string
	PostedAt    time.Time
	ExpiresAt   time.Time
	ContentHash string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Enrichment is a row of post_enrichment.
type Enrichment struct {
	PostID           string
	Kind             string
	Provider         string
	Data             json.RawMessage
	DataHash         string
	Status           string
	Error            string
	SourceOccurredAt time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TagsData is the data document of a kind='tags' row.
type TagsData struct {
	Tags          []string `json:"tags"`
	TagsHash      string   `json:"tags_hash"`
	Provider      string   `json:"provider"`
	Model         string   `json:"model"`
	PromptVersion string   `json:"prompt_version"`
	LatencyMS     int64    `json:"latency_ms"`
	TraceID       string   `json:"trace_id"`
}

// GetPost reads one post.
func (r *Repository) GetPost(ctx context.Context, postID string) (Post, error) {
	var (
		p                   Post
		urls                []byte
		postedAt, expiresAt pgtype.Timestamptz
	)
	err := r.pool.QueryRow(ctx, `
SELECT post_id, COALESCE(channel_id, ''), COALESCE(tenant_id, ''), COALESCE(text, ''), urls,
       posted_at, expires_at, COALESCE(content_hash, ''), created_at, updated_at
FROM posts WHERE post_id = $1`, postID).Scan(
		&p.PostID, &p.ChannelID, &p.TenantID, &p.Text, &urls,
		&postedAt, &expiresAt, &p.ContentHash, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, fmt.Errorf("post %s: %w", postID, ErrNotFound)
	}
	if err != nil {
		return Post{}, fmt.Errorf("read post %s: %w", postID, err)
	}
	if urls != nil {
		if err := json.Unmarshal(urls, &p.URLs); err != nil {
			return Post{}, fmt.Errorf("read post %s: urls: %w", postID, err)
		}
	}
	p.PostedAt, p.ExpiresAt = postedAt.Time, expiresAt.Time
	return p, nil
}

// GetEnrichment reads the enrichment of one kind of one post.
func (r *Repository) GetEnrichment(ctx context.Context, postID, kind string) (Enrichment, error) {
	var (
		e      Enrichment
		source pgtype.Timestamptz
	)
	err := r.pool.QueryRow(ctx, `
SELECT post_id, kind, COALESCE(provider, ''), data, COALESCE(data_hash, ''), status, COALESCE(error, ''),
       source_occurred_at, created_at, updated_at
FROM post_enrichment WHERE post_id = $1 AND kind = $2`, postID, kind).Scan(
		&e.PostID, &e.Kind, &e.Provider, &e.Data, &e.DataHash, &e.Status, &e.Error,
		&source, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrichment{}, fmt.Errorf("%s enrichment of post %s: %w", kind, postID, ErrNotFound)
	}
	if err != nil {
		return Enrichment{}, fmt.Errorf("read %s enrichment of post %s: %w", kind, postID, err)
	}
	e.SourceOccurredAt = source.Time
	return e, nil
}

// GetTags reads the tags row of a post and decodes its data.
func (r *Repository) GetTags(ctx context.Context, postID string) (TagsData, Enrichment, error) {
	e, err := r.GetEnrichment(ctx, postID, "tags")
	if err != nil {
		return TagsData{}, e, err
	}
	var d TagsData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return TagsData{}, e, fmt.Errorf("decode tags of post %s: %w", postID, err)
	}
	return d, e, nil
}
