package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PostParsed is an entry of posts.parsed (v1).
type PostParsed struct {
	Envelope
	PostID           string    `json:"post_id"`
	ChannelID        string    `json:"channel_id"`
	Text             string    `json:"text"`
	PostedAt         time.Time `json:"posted_at"`
	TenantID         string    `json:"tenant_id,omitempty"`
	UserID           string    `json:"user_id,omitempty"`
	TGChannelID      int64     `json:"tg_channel_id,omitempty"`
	TGMessageID      int64     `json:"tg_message_id,omitempty"`
	TelegramPostURL  string    `json:"telegram_post_url,omitempty"`
	URLs             []string  `json:"urls,omitempty"`
	ContentHash      string    `json:"content_hash,omitempty"`
	HasMedia         bool      `json:"has_media,omitempty"`
	MediaSHA256List  []string  `json:"media_sha256_list,omitempty"`
	ViewsCount       int64     `json:"views_count,omitempty"`
	ForwardsCount    int64     `json:"forwards_count,omitempty"`
	ReplyToMessageID int64     `json:"reply_to_message_id,omitempty"`
	ChannelTitle     string    `json:"channel_title,omitempty"`
	// ReceivedAt is when the daemon first received the post; optional (the
	// tag stage takes the envelope's occurred_at, when ingest produced the
	// entry). Retention's receipt floor counts from it (config.Posts).
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Retag names an `assistant reindex --retag` run that published the
	// stored post again: the tag stage tags it even though it tagged the
	// same content before (its dedup key gains the run's id) and marks
	// posts.tagged trigger=retag.
	Retag string `json:"retag,omitempty"`
}

// Validate checks the required fields of posts.parsed.
func (p *PostParsed) Validate() error {
	if err := p.validateDecoded(); err != nil {
		return err
	}
	if !utf8.ValidString(p.Text) {
		return errors.New("text is not valid UTF-8")
	}
	return nil
}

// validateDecoded is Validate less the UTF-8 check of the text, for an
// event that Decode filled: Decode refuses invalid UTF-8 in any field
// before it decodes (and JSON escapes decode to valid UTF-8), so the text
// is valid already and need not be read a third time.
func (p *PostParsed) validateDecoded() error {
	var missing []string
	if p.PostID == "" {
		missing = append(missing, "post_id")
	}
	if p.ChannelID == "" {
		missing = append(missing, "channel_id")
	}
	// text may be empty: a photo or video without a caption is a post.
	if p.PostedAt.IsZero() {
		missing = append(missing, "posted_at")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	return nil
}

// ParsedIdempotencyKey is <tenant_id>:<channel_id>:<tg_message_id> when those
// exist, else post_id.
func (p *PostParsed) ParsedIdempotencyKey() string {
	if p.TenantID != "" && p.ChannelID != "" && p.TGMessageID != 0 {
		return p.TenantID + ":" + p.ChannelID + ":" + strconv.FormatInt(p.TGMessageID, 10)
	}
	return p.PostID
}

// PostTagged is an entry of posts.tagged (v1). It carries everything its
// consumers need so that none of them reads another stage's table.
type PostTagged struct {
	Envelope
	PostID        string    `json:"post_id"`
	ChannelID     string    `json:"channel_id"`
	TenantID      string    `json:"tenant_id,omitempty"`
	Text          string    `json:"text"`
	URLs          []string  `json:"urls"`
	PostedAt      time.Time `json:"posted_at"`
	ContentHash   string    `json:"content_hash"`
	Tags          []string  `json:"tags"`
	TagsHash      string    `json:"tags_hash"`
	Provider      string    `json:"provider"`
	Model         string    `json:"model"`
	PromptVersion string    `json:"prompt_version"`
	LatencyMS     int64     `json:"latency_ms"`
	Trigger       string    `json:"trigger"`
	// ReceivedAt is when the daemon received the post (posts.parsed's
	// received_at, else its occurred_at), carried so that every store
	// computes the same expires_at (config.Posts.ExpiresAt).
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// UserID and Metadata (model, prompt_version) are what the old
	// system's posts.tagged consumers read (user_id, metadata.model).
	UserID   string            `json:"user_id,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// ChannelTitle is the channel's name from posts.parsed, when the
	// source knew it; persist keeps it in the channels table.
	ChannelTitle string `json:"channel_title,omitempty"`
}

// Trigger values of posts.tagged.
const (
	TriggerInitial = "initial"
	TriggerRetag   = "retag"
	TriggerManual  = "manual"
)

// Validate checks the required fields of posts.tagged.
func (p *PostTagged) Validate() error {
	var missing []string
	if p.PostID == "" {
		missing = append(missing, "post_id")
	}
	if p.TagsHash == "" {
		missing = append(missing, "tags_hash")
	}
	if p.Tags == nil {
		missing = append(missing, "tags")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	if want := TagsHash(p.Tags); want != p.TagsHash {
		return fmt.Errorf("tags_hash %s does not match tags (want %s)", p.TagsHash, want)
	}
	return nil
}

// TaggedIdempotencyKey is <post_id>:tagged:<tags_hash>.
func TaggedIdempotencyKey(postID, tagsHash string) string {
	return postID + ":tagged:" + tagsHash
}

// CrawlResult is one crawled URL inside posts.enriched.
type CrawlResult struct {
	URL             string `json:"url"`
	FinalURL        string `json:"final_url"`
	Status          int    `json:"status"`
	Title           string `json:"title"`
	MarkdownExcerpt string `json:"markdown_excerpt"`
	WordCount       int    `json:"word_count"`
	ContentSHA256   string `json:"content_sha256"`
	Error           string `json:"error,omitempty"`
}

// PostEnriched is an entry of posts.enriched (v1).
type PostEnriched struct {
	Envelope
	PostID     string        `json:"post_id"`
	ChannelID  string        `json:"channel_id"`
	TenantID   string        `json:"tenant_id,omitempty"`
	Text       string        `json:"text"`
	Tags       []string      `json:"tags"`
	TagsHash   string        `json:"tags_hash"`
	PostedAt   time.Time     `json:"posted_at"`
	URLs       []string      `json:"urls"`
	Crawl      []CrawlResult `json:"crawl"`
	Skipped    bool          `json:"skipped"`
	SkipReason string        `json:"skip_reason,omitempty"`
	// ReceivedAt is posts.tagged's received_at, carried on.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Reindex marks an entry `assistant reindex` published from the stored
	// post: the index stage embeds and writes it even when its index_hash
	// is unchanged (the vector or graph node may be gone).
	Reindex bool `json:"reindex,omitempty"`
	// ExpiresAt, set by reindex, is the stored post's expires_at: index
	// copies it into the vector payload and the graph instead of computing
	// it again, so that every store keeps agreeing with PostgreSQL.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Validate checks the required fields of posts.enriched.
func (p *PostEnriched) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// PostIndexed is an entry of posts.indexed (v1).
type PostIndexed struct {
	Envelope
	PostID           string         `json:"post_id"`
	VectorID         string         `json:"vector_id"`
	Collection       string         `json:"collection"`
	EmbeddingModel   string         `json:"embedding_model"`
	EmbeddingDim     int            `json:"embedding_dim"`
	Graph            map[string]int `json:"graph"`
	IndexedAt        time.Time      `json:"indexed_at"`
	SkippedUnchanged bool           `json:"skipped_unchanged"`
}

// Validate checks the required fields of posts.indexed.
func (p *PostIndexed) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// PostDeleted is an entry of posts.deleted (v1).
type PostDeleted struct {
	Envelope
	PostID    string `json:"post_id"`
	ChannelID string `json:"channel_id"`
	Reason    string `json:"reason"` // telegram | ttl | admin
}

// Validate checks the required fields of posts.deleted.
func (p *PostDeleted) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// EventPostID returns the post the event is about.
func (p *PostParsed) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostTagged) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostEnriched) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostIndexed) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostDeleted) EventPostID() string { return p.PostID }
