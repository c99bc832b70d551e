package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DLQ entry fields, as the runner writes them (docs/delivery.md, "Dead letters").
const (
	DLQFieldData        = "data"
	DLQFieldStream      = "stream"
	DLQFieldGroup       = "group"
	DLQFieldEntryID     = "entry_id"
	DLQFieldStage       = "stage"
	DLQFieldError       = "error"
	DLQFieldErrorClass  = "error_class"
	DLQFieldAttempts    = "attempts"
	DLQFieldFirstSeenAt = "first_seen_at"
	DLQFieldFailedAt    = "failed_at"
	DLQFieldTraceID     = "trace_id"
)

// DLQEntry is one dead-lettered entry, decoded from the fields the runner
// wrote.
type DLQEntry struct {
	// ID is the entry's id in the DLQ stream (what `dlq show/replay/purge
	// --id` take), not the original entry's id (EntryID).
	ID         string
	Stream     string // unprefixed original stream
	Group      string
	EntryID    string // id the entry had in its original stream
	Stage      string
	Error      string
	ErrorClass string // permanent | exhausted
	Attempts   int
	// FirstSeenAt and FailedAt are zero when the field is absent or not
	// RFC 3339; the raw strings stay in Fields.
	FirstSeenAt time.Time
	FailedAt    time.Time
	TraceID     string
	// Data holds the original entry's fields, as decoded from the data
	// field's JSON object; nil when that field is not a JSON object
	// (DataErr says why). Replay writes exactly these fields back.
	Data    map[string]string
	DataErr error
	// Fields is every field of the DLQ entry as stored.
	Fields map[string]string
}

// NewDLQEntry describes the failure of a message handled by stage: its
// original fields, where it came from, why and after how many attempts.
func NewDLQEntry(m *Message, stage, class string, failure error, now time.Time) DLQEntry {
	data := make(map[string]string, len(m.Values))
	for k, v := range m.Values {
		if s, ok := v.(string); ok {
			data[k] = s
		} else {
			data[k] = fmt.Sprint(v)
		}
	}
	return DLQEntry{
		Stream: m.Stream, Group: stage, EntryID: m.ID, Stage: stage,
		Error: failure.Error(), ErrorClass: class, Attempts: m.Attempt,
		FirstSeenAt: m.FirstSeen.UTC(), FailedAt: now.UTC(),
		TraceID: m.Meta().TraceID, Data: data,
	}
}

// Encode renders the entry as the fields of a DLQ stream entry
// (docs/delivery.md, "Dead letters"): data holds the original fields as a
// JSON object, so that replay can put them back exactly.
func (e DLQEntry) Encode() map[string]any {
	data, _ := json.Marshal(e.Data) // a map of strings: cannot fail
	return map[string]any{
		DLQFieldData:        string(data),
		DLQFieldStream:      e.Stream,
		DLQFieldGroup:       e.Group,
		DLQFieldEntryID:     e.EntryID,
		DLQFieldStage:       e.Stage,
		DLQFieldError:       e.Error,
		DLQFieldErrorClass:  e.ErrorClass,
		DLQFieldAttempts:    strconv.Itoa(e.Attempts),
		DLQFieldFirstSeenAt: e.FirstSeenAt.Format(time.RFC3339Nano),
		DLQFieldFailedAt:    e.FailedAt.Format(time.RFC3339Nano),
		DLQFieldTraceID:     e.TraceID,
	}
}

// DecodeDLQEntry reads the fields Encode wrote; it never fails, so that even
// a malformed entry can be listed, shown and purged.
func DecodeDLQEntry(m redis.XMessage) DLQEntry {
	fields := make(map[string]string, len(m.Values))
	for k, v := range m.Values {
		if s, ok := v.(string); ok {
			fields[k] = s
		} else {
			fields[k] = fmt.Sprint(v)
		}
	}
	e := DLQEntry{
		ID:         m.ID,
		Stream:     fields[DLQFieldStream],
		Group:      fields[DLQFieldGroup],
		EntryID:    fields[DLQFieldEntryID],
		Stage:      fields[DLQFieldStage],
		Error:      fields[DLQFieldError],
		ErrorClass: fields[DLQFieldErrorClass],
		TraceID:    fields[DLQFieldTraceID],
		Fields:     fields,
	}
	e.Attempts, _ = strconv.Atoi(fields[DLQFieldAttempts])
	e.FirstSeenAt, _ = time.Parse(time.RFC3339Nano, fields[DLQFieldFirstSeenAt])
	e.FailedAt, _ = time.Parse(time.RFC3339Nano, fields[DLQFieldFailedAt])
	e.Data, e.DataErr = decodeDLQData(fields)
	return e
}

// decodeDLQData parses the data field: a JSON object of the original entry's
// fields. String values are taken as they are; any other JSON value keeps its
// JSON text, which is how it would have been stored in a stream field.
func decodeDLQData(fields map[string]string) (map[string]string, error) {
	raw, ok := fields[DLQFieldData]
	if !ok {
		return nil, errors.New("no data field")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		return nil, fmt.Errorf("data field is not a JSON object: %w", err)
	}
	if len(obj) == 0 {
		return nil, errors.New("data field holds no original fields")
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}
