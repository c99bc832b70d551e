package pipeline

import (
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/assistant-dev/assistant/events"
)

// Message is one stream entry handed to a stage, together with the outcome
// the stage gives it.
type Message struct {
	// Stream is the unprefixed name of the stream the entry was read from.
	Stream string
	// Partition is the partition of the stream it was read from (0 when
	// streams are not partitioned); its outputs go to the same partition.
	Partition int
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
	meta      *events.Meta
	// parked: waiting out an outage; its re-claim must not count a
	// delivery (XCLAIM JUSTID), since no attempt was spent.
	parked bool
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
func (m *Message) Decode(ev events.Event) error {
	if err := events.Decode(m.Values, ev); err != nil {
		return Permanent(err)
	}
	// The old worker's entries carry no trace id: mint one at this first
	// hop, derived from the entry so that every retry and every output of
	// it carries the same id, and the stages keep it from here on.
	if env := ev.Env(); env.TraceID == "" {
		env.TraceID = uuid.NewSHA1(traceNamespace, []byte(m.Stream+"/"+m.ID)).String()
	}
	// Remember the identifiers for logs and the DLQ without parsing again.
	if m.meta == nil {
		meta := events.MetaOfEvent(ev)
		m.meta = &meta
	}
	return nil
}

// traceNamespace is the UUIDv5 namespace of minted trace ids.
var traceNamespace = uuid.MustParse("3c1f7a2e-5b8d-5e4f-9a6b-7c8d9e0f1a2b")

// Publish encodes ev and queues it for the (unprefixed) stream. The runner
// adds it to the stream in the same MULTI/EXEC that acknowledges the entry.
func (m *Message) Publish(stream string, ev events.Event) error {
	values, err := events.Encode(ev)
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

// Meta returns the entry's identifiers (events.Meta) for logs and the DLQ:
// from the decoded event when the stage decoded it, else a quick, lenient
// look at the entry.
func (m *Message) Meta() events.Meta {
	if m.meta == nil {
		meta := events.MetaOf(m.Values)
		m.meta = &meta
	}
	return *m.meta
}

// LogAttrs are the attributes of every log line about this entry.
func (m *Message) LogAttrs() []slog.Attr {
	return append([]slog.Attr{
		slog.String("stream", m.Stream), slog.String("entry_id", m.ID), slog.Int("attempt", m.Attempt),
	}, m.Meta().LogAttrs()...)
}

// Forward queues the entry's own values, unchanged, for the (unprefixed)
// stream: for stages that route entries without re-encoding them.
func (m *Message) Forward(stream string) {
	m.outputs = append(m.outputs, output{stream: stream, values: m.Values})
}
