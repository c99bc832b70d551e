package pipeline

import "github.com/assistant-dev/assistant/events"

// The event contract moved to package events. These aliases keep code
// written against the old names compiling while it moves over; new code
// imports events directly.

// Deprecated aliases of package events.
type (
	Envelope     = events.Envelope
	Event        = events.Event
	PostParsed   = events.PostParsed
	PostTagged   = events.PostTagged
	PostEnriched = events.PostEnriched
	PostIndexed  = events.PostIndexed
	PostDeleted  = events.PostDeleted
	CrawlResult  = events.CrawlResult
	DecodeError  = events.DecodeError
)

// Deprecated constants of package events.
const (
	SchemaV1       = events.SchemaV1
	DataField      = events.DataField
	TriggerInitial = events.TriggerInitial
	TriggerRetag   = events.TriggerRetag
	TriggerManual  = events.TriggerManual
)

// TagsHash is events.TagsHash. Deprecated.
func TagsHash(tags []string) string { return events.TagsHash(tags) }

// ContentHash is events.ContentHash. Deprecated.
func ContentHash(text string) string { return events.ContentHash(text) }

// TaggedIdempotencyKey is events.TaggedIdempotencyKey. Deprecated.
func TaggedIdempotencyKey(postID, tagsHash string) string {
	return events.TaggedIdempotencyKey(postID, tagsHash)
}

// EncodeEvent is events.Encode. Deprecated.
func EncodeEvent(ev Event) (map[string]any, error) { return events.Encode(ev) }

// DecodeEvent is events.Decode with the failure marked Permanent (a
// malformed entry goes to the DLQ at once).
func DecodeEvent(values map[string]any, ev Event) error {
	return Permanent(events.Decode(values, ev))
}
