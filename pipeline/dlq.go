package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

	// DLQRawFieldPrefix prefixes the byte-exact copies of the original
	// fields ("raw:" + field name = the field's value as it was), written
	// only when a field name or value is not valid UTF-8: JSON cannot hold
	// such bytes (encoding/json turns each into U+FFFD), and a replay must
	// put back exactly what was dead-lettered. The data field is still
	// written, lossy, for people and older tools.
	DLQRawFieldPrefix = "raw:"
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
	// Data holds the original entry's fields: from the raw: fields when
	// the entry has them (byte-exact), else decoded from the data field's
	// JSON object; nil when that field is not a JSON object (DataErr says
	// why). Replay writes exactly these fields back. Values may hold bytes
	// that are not UTF-8: show them through VisibleBytes.
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
// JSON object, and when any of them is not valid UTF-8 the raw: fields hold
// every original field byte for byte, so that replay puts them back exactly.
func (e DLQEntry) Encode() map[string]any {
	data, _ := json.Marshal(e.Data) // a map of strings: cannot fail
	out := map[string]any{
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
	if !allUTF8(e.Data) {
		for k, v := range e.Data {
			out[DLQRawFieldPrefix+k] = v
		}
	}
	return out
}

// allUTF8 reports whether every field name and value is valid UTF-8, that
// is whether the JSON of the data field alone holds them exactly.
func allUTF8(fields map[string]string) bool {
	for k, v := range fields {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
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

// decodeDLQData returns the original entry's fields: the raw: fields when
// there are any (written when the original held bytes that are not UTF-8),
// else the data field, a JSON object of the original fields (every entry
// written before the raw: fields existed). String values are taken as they
// are; any other JSON value keeps its JSON text, which is how it would have
// been stored in a stream field.
func decodeDLQData(fields map[string]string) (map[string]string, error) {
	var raw map[string]string
	for k, v := range fields {
		if name, ok := strings.CutPrefix(k, DLQRawFieldPrefix); ok {
			if raw == nil {
				raw = map[string]string{}
			}
			raw[name] = v
		}
	}
	if raw != nil {
		return raw, nil
	}
	data, ok := fields[DLQFieldData]
	if !ok {
		return nil, errors.New("no data field")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &obj); err != nil {
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

// VisibleBytes renders s for people: unchanged when it is valid UTF-8, else
// each byte that is not part of a valid UTF-8 sequence written as \xNN, so
// that `dlq show` and the console show binary data instead of U+FFFD (or
// raw bytes a terminal would garble). It is for display only: the stored
// copy keeps the bytes.
func VisibleBytes(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// VisibleFields is fields with names and values through VisibleBytes.
func VisibleFields(fields map[string]string) map[string]string {
	if fields == nil || allUTF8(fields) {
		return fields
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[VisibleBytes(k)] = VisibleBytes(v)
	}
	return out
}
