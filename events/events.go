// Package events is the contract between the stages: the envelope every
// event carries, the typed event of each stream with its required fields and
// idempotency key, tags_hash and content_hash, and the codec between an event
// and the fields of a Redis stream entry (the data form and the old worker's
// flat form). docs/events.md describes it for people; this package is its
// single implementation, imported by the stages, the stores and ingest. The
// runner moves entries without looking inside them beyond Meta.
package events

import (
	"time"
)

// SchemaV1 is the only event schema version this daemon reads and writes.
const SchemaV1 = "v1"

// DataField is the single stream field that carries an event as JSON.
const DataField = "data"

// Envelope is carried by every event (docs/events.md, "The envelope").
type Envelope struct {
	SchemaVersion  string    `json:"schema_version"`
	TraceID        string    `json:"trace_id"`
	OccurredAt     time.Time `json:"occurred_at"`
	IdempotencyKey string    `json:"idempotency_key"`
}

// Env gives access to the envelope of any event type that embeds it.
func (e *Envelope) Env() *Envelope { return e }

// Event is implemented by every event type: it exposes its envelope and
// checks its own required fields.
type Event interface {
	Env() *Envelope
	Validate() error
}
