package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// OriginField and OriginSelf mark the copies the daemon publishes to the
// old worker's keys (stream:posts:tagged, stream:posts:enriched). The old
// consumers read the data field and keep any other field as a header, so the
// mark changes nothing they see; the daemon's own legacy consumer, which
// reads the same keys for what the old worker still writes there, skips an
// entry that carries it: it never consumes its own echo.
const (
	OriginField = "origin"
	OriginSelf  = "assistant"
)

// IsOwnEcho reports whether a stream entry is a copy the daemon published
// to an old key (it carries OriginField = OriginSelf).
func IsOwnEcho(values map[string]any) bool {
	v, ok := values[OriginField].(string)
	return ok && v == OriginSelf
}

// legacyTagged is posts.tagged in the shape of the old system's
// PostTaggedEventV1, which its downstream tasks (TagPersistenceTask,
// enrichment, crawl trigger) validate: they key on <post_id>:tagged:v1 and
// read user_id and metadata.model.
type legacyTagged struct {
	SchemaVersion  string            `json:"schema_version"`
	TraceID        string            `json:"trace_id"`
	OccurredAt     time.Time         `json:"occurred_at"`
	IdempotencyKey string            `json:"idempotency_key"`
	PostID         string            `json:"post_id"`
	TenantID       string            `json:"tenant_id,omitempty"`
	UserID         string            `json:"user_id,omitempty"`
	ChannelID      string            `json:"channel_id,omitempty"`
	Tags           []string          `json:"tags"`
	TagsHash       string            `json:"tags_hash"`
	Topics         []string          `json:"topics"`
	Provider       string            `json:"provider"`
	LatencyMS      int64             `json:"latency_ms"`
	Metadata       map[string]string `json:"metadata"`
	Trigger        string            `json:"trigger,omitempty"`
}

// LegacyTagged renders ev as the entry the old worker wrote to
// stream:posts:tagged: one data field, PostTaggedEventV1's fields, no nulls.
// tags_hash is the same (TagsHash is the old compute_hash).
func LegacyTagged(ev *PostTagged) (map[string]any, error) {
	meta := map[string]string{"model": ev.Model}
	for k, v := range ev.Metadata {
		meta[k] = v
	}
	old := legacyTagged{
		SchemaVersion:  SchemaV1,
		TraceID:        ev.TraceID,
		OccurredAt:     ev.OccurredAt,
		IdempotencyKey: ev.PostID + ":tagged:v1",
		PostID:         ev.PostID,
		TenantID:       ev.TenantID,
		UserID:         ev.UserID,
		ChannelID:      ev.ChannelID,
		Tags:           ev.Tags,
		TagsHash:       ev.TagsHash,
		Topics:         []string{},
		Provider:       ev.Provider,
		LatencyMS:      ev.LatencyMS,
		Metadata:       meta,
		Trigger:        ev.Trigger,
	}
	if old.Tags == nil {
		old.Tags = []string{}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(old); err != nil {
		return nil, fmt.Errorf("encode legacy posts.tagged: %w", err)
	}
	return map[string]any{DataField: strings.TrimSuffix(b.String(), "\n")}, nil
}
