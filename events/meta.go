package events

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Subject is implemented by events about one post; the runner's logs and
// DLQ entries name it.
type Subject interface {
	EventPostID() string
}

// Meta are the identifiers every log line and DLQ entry about a stream entry
// carries (docs/events.md, "Identifiers in logs").
type Meta struct {
	PostID  string `json:"post_id"`
	TraceID string `json:"trace_id"`
}

// MetaOf reads the identifiers of an entry without decoding the whole event:
// a quick, lenient look (empty fields when unreadable), for logs only.
func MetaOf(values map[string]any) Meta {
	var m Meta
	if data, ok := values[DataField].(string); ok {
		_ = json.Unmarshal([]byte(data), &m) // best effort: the ids only serve logs
		return m
	}
	if v, ok := values["post_id"]; ok {
		m.PostID = fmt.Sprint(v)
	}
	if v, ok := values["trace_id"]; ok {
		m.TraceID = fmt.Sprint(v)
	}
	return m
}

// MetaOfEvent returns the identifiers of a decoded event.
func MetaOfEvent(ev Event) Meta {
	m := Meta{TraceID: ev.Env().TraceID}
	if s, ok := ev.(Subject); ok {
		m.PostID = s.EventPostID()
	}
	return m
}

// LogAttrs are the log attributes of the identifiers.
func (m Meta) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("post_id", m.PostID), slog.String("trace_id", m.TraceID)}
}
