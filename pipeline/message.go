package pipeline

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Message is one stream entry handed to a stage, together with the outcome
// the stage gives it.
type Message struct {
	// Stream is the unprefixed name of the stream the entry was read from.
	Stream string
	// ID is the entry id.
	ID string
	// Values are the entry's fields as Redis returned them.
	Values map[string]any
	// Attempt is the delivery number of this entry, 1 on the first delivery.
	// It counts redeliveries after a crash (from the consumer group's
	// delivery count) and the runner's own retries.
	Attempt int
	// FirstSeen is when this process first read the entry.
	FirstSeen time.Time

	outputs   []output
	marks     []mark
	committed []func()
	err       error
	ids       *entryIDs
}

// mark is a Redis key set in the transaction that publishes the outputs.
type mark struct {
	key   string
	value string
	ttl   time.Duration
}

type output struct {
	stream string
	values map[string]any
}

// Decode fills ev from the entry (data form or legacy flat form) and checks
// its required fields. A failure is permanent and names the problem.
func (m *Message) Decode(ev Event) error {
	if err := DecodeEvent(m.Values, ev); err != nil {
		return err
	}
	// Remember ids for logs and the DLQ without parsing the entry again.
	env := ev.Env()
	if m.ids == nil {
		m.ids = &entryIDs{TraceID: env.TraceID}
		if k, ok := ev.(interface{ EventPostID() string }); ok {
			m.ids.PostID = k.EventPostID()
		}
	}
	return nil
}

// Publish encodes ev and queues it for the (unprefixed) stream. The runner
// adds it to the stream in the same MULTI/EXEC that acknowledges the entry.
func (m *Message) Publish(stream string, ev Event) error {
	values, err := EncodeEvent(ev)
	if err != nil {
		return err
	}
	m.outputs = append(m.outputs, output{stream: stream, values: values})
	return nil
}

// Fail records the failure of this message. Mark it Permanent to send the
// entry to the DLQ at once; any other error is retried.
func (m *Message) Fail(err error) {
	if err != nil {
		m.err = err
	}
}

// Err returns the failure recorded by Fail, if any.
func (m *Message) Err() error { return m.err }

// SetKey queues SET key value EX ttl into the MULTI/EXEC that publishes the
// outputs and acknowledges the entry, so the key exists exactly when the
// outputs do (a "done" mark that is never set for unpublished work). The key
// is unprefixed; the runner applies the key prefix.
func (m *Message) SetKey(key, value string, ttl time.Duration) {
	m.marks = append(m.marks, mark{key: key, value: value, ttl: ttl})
}

// OnCommitted registers fn to run once the outputs, marks and the
// acknowledgement are committed (for in-process caches that must not run
// ahead of Redis).
func (m *Message) OnCommitted(fn func()) {
	m.committed = append(m.committed, fn)
}

// reset clears the outcome before a retry.
func (m *Message) reset() {
	m.outputs = m.outputs[:0]
	m.marks = m.marks[:0]
	m.committed = m.committed[:0]
	m.err = nil
}

// entryIDs are the identifiers every log line of a handled entry carries.
type entryIDs struct {
	PostID  string `json:"post_id"`
	TraceID string `json:"trace_id"`
}

// IDs returns the entry's post_id and trace_id, read from the event when the
// stage did not decode it (a quick, lenient look; empty when unreadable).
func (m *Message) IDs() (postID, traceID string) {
	if m.ids == nil {
		m.ids = &entryIDs{}
		if data, ok := m.Values[DataField].(string); ok {
			_ = json.Unmarshal([]byte(data), m.ids) // best effort: ids only serve logs
		} else {
			m.ids.PostID = fmt.Sprint(valueOr(m.Values, "post_id"))
			m.ids.TraceID = fmt.Sprint(valueOr(m.Values, "trace_id"))
		}
	}
	return m.ids.PostID, m.ids.TraceID
}

// LogAttrs are the attributes of every log line about this entry.
func (m *Message) LogAttrs() []slog.Attr {
	postID, traceID := m.IDs()
	return []slog.Attr{
		slog.String("stream", m.Stream), slog.String("entry_id", m.ID),
		slog.String("post_id", postID), slog.String("trace_id", traceID),
		slog.Int("attempt", m.Attempt),
	}
}

func valueOr(values map[string]any, key string) any {
	if v, ok := values[key]; ok {
		return v
	}
	return ""
}

// Forward queues the entry's own values, unchanged, for the (unprefixed)
// stream: for stages that route entries without re-encoding them.
func (m *Message) Forward(stream string) {
	m.outputs = append(m.outputs, output{stream: stream, values: m.Values})
}
