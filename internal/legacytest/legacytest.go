// Package legacytest reproduces, for tests, the Redis wire formats of the
// old Python system the daemon replaces: the entries its telethon ingest
// publishes to stream:posts:parsed (the flat form — one stream field per
// key, booleans True/False, numbers as strings, lists as json.dumps with
// ensure_ascii=False, datetimes as str(datetime) — and the data form, one
// field of json.dumps(event, ensure_ascii=False, default=str) with the
// None fields left out), and a decoder of posts.tagged entries written to
// the old PostTaggedEventV1 rules, so that tests can prove the old
// downstream tasks read what the daemon publishes on the old keys.
//
// It is written from the old code's documented behaviour (redis-py refuses
// None values, so the old publisher drops them; pydantic ignores unknown
// fields and checks the declared types), not from a running copy of it.
package legacytest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Field is one key of an old event, in the order the old model declares
// it (Python dicts keep insertion order, so the bytes depend on it).
type Field struct {
	Key   string
	Value any // string, bool, int/int64, float64, []string, map, time.Time, PyTime, nil (dropped)
}

// PyTime is a timestamp exactly as Python's str(datetime) prints it, e.g.
// "2024-12-04 09:00:28+00:00" or, naive, "2024-12-04 09:00:28.123456".
type PyTime string

// PyStr renders t as Python's str(datetime) does for an aware datetime:
// a space between date and time, microseconds only when non-zero, and the
// offset as +HH:MM.
func PyStr(t time.Time) PyTime {
	layout := "2006-01-02 15:04:05"
	if t.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return PyTime(t.Format(layout + "-07:00"))
}

// Flat is the entry the old ingest publishes in the flat form: one stream
// field per key; None values dropped (redis-py cannot send them).
func Flat(fields ...Field) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.Value == nil {
			continue
		}
		out[f.Key] = flatString(f.Value)
	}
	return out
}

func flatString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case PyTime:
		return string(x)
	case time.Time:
		return string(PyStr(x))
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return PyJSON(x)
	}
}

// Data is the entry the old ingest publishes in the data form: one field
// data holding json.dumps(event, ensure_ascii=False, default=str) of the
// event without its None fields.
func Data(fields ...Field) map[string]any {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, f := range fields {
		if f.Value == nil {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		writePyString(&b, f.Key)
		b.WriteString(": ")
		switch x := f.Value.(type) {
		case time.Time: // default=str
			writePyString(&b, string(PyStr(x)))
		case PyTime:
			writePyString(&b, string(x))
		default:
			b.WriteString(PyJSON(x))
		}
	}
	b.WriteByte('}')
	return map[string]any{"data": b.String()}
}

// PyJSON renders v as Python's json.dumps(v, ensure_ascii=False): ", " and
// ": " separators, non-ASCII as is, True/False as true/false.
func PyJSON(v any) string {
	var b strings.Builder
	writePy(&b, v)
	return b.String()
}

func writePy(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		writePyString(b, x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case []string:
		b.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, s)
		}
		b.WriteByte(']')
	case []Field: // an object with ordered keys
		b.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, f.Key)
			b.WriteString(": ")
			writePy(b, f.Value)
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("legacytest: cannot render %T", v))
	}
}

// writePyString writes s as a JSON string the way Python does with
// ensure_ascii=False: only ", \ and control characters are escaped.
// It repeats events.writePythonJSONString on purpose: OldTagsHash is the
// independent reference that events.TagsHash is tested against, so it must
// not share the code under test.
func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// OldTagsHash is PostTaggedEventV1.compute_hash: SHA-256 of
// json.dumps(sorted(set(t for t in tags if t)), ensure_ascii=False).
func OldTagsHash(tags []string) string {
	set := []string{}
	for _, t := range tags {
		if t != "" && !slices.Contains(set, t) {
			set = append(set, t)
		}
	}
	// Python sorts str by code point; Go compares strings bytewise, which
	// for UTF-8 is the same order.
	slices.Sort(set)
	sum := sha256.Sum256([]byte(PyJSON(set)))
	return hex.EncodeToString(sum[:])
}

// OldTagged is a posts.tagged event as the old consumers see it after
// PostTaggedEventV1 validated it.
type OldTagged struct {
	SchemaVersion  string
	TraceID        string
	OccurredAt     time.Time
	IdempotencyKey string
	PostID         string
	TenantID       *string
	UserID         *string
	ChannelID      *string
	Tags           []string
	TagsHash       string
	Topics         []string
	Provider       string
	LatencyMS      *int64
	Metadata       map[string]any
	Trigger        *string
}

// DecodeOldTagged reads an entry of stream:posts:tagged the way the old
// TagPersistenceTask does: the event from the data field, validated as
// PostTaggedEventV1 (pydantic: declared types enforced, unknown fields
// ignored, defaults for the missing ones), and refuses what it would
// refuse, including an idempotency_key other than <post_id>:tagged:v1 and
// a tags_hash that compute_hash does not reproduce.
func DecodeOldTagged(values map[string]any) (*OldTagged, error) {
	raw, ok := values["data"].(string)
	if !ok {
		return nil, fmt.Errorf("no data field (fields %v)", keys(values))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		return nil, fmt.Errorf("data is not a JSON object: %w", err)
	}
	ev := &OldTagged{Provider: "gigachat", Tags: []string{}, Topics: []string{}, Metadata: map[string]any{}}
	var errs []error
	str := func(key string, required bool) *string {
		r, ok := obj[key]
		if !ok || string(r) == "null" {
			if required {
				errs = append(errs, fmt.Errorf("%s: field required", key))
			}
			return nil
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			errs = append(errs, fmt.Errorf("%s: input should be a valid string, got %s", key, r))
			return nil
		}
		return &s
	}
	list := func(key string) []string {
		r, ok := obj[key]
		if !ok {
			return []string{}
		}
		var l []string
		if err := json.Unmarshal(r, &l); err != nil || l == nil {
			errs = append(errs, fmt.Errorf("%s: input should be a list of strings, got %s", key, r))
		}
		return l
	}
	set := func(dst *string, p *string) {
		if p != nil {
			*dst = *p
		}
	}
	set(&ev.SchemaVersion, str("schema_version", true))
	set(&ev.TraceID, str("trace_id", true))
	set(&ev.IdempotencyKey, str("idempotency_key", true))
	set(&ev.PostID, str("post_id", true))
	set(&ev.TagsHash, str("tags_hash", true))
	if p := str("provider", false); p != nil {
		ev.Provider = *p
	}
	ev.TenantID = str("tenant_id", false)
	ev.UserID = str("user_id", false)
	ev.ChannelID = str("channel_id", false)
	ev.Trigger = str("trigger", false)
	ev.Tags = list("tags")
	ev.Topics = list("topics")
	if p := str("occurred_at", true); p != nil {
		t, err := parsePyDatetime(*p)
		if err != nil {
			errs = append(errs, fmt.Errorf("occurred_at: %w", err))
		}
		ev.OccurredAt = t
	}
	if r, ok := obj["latency_ms"]; ok && string(r) != "null" {
		var n int64
		if err := json.Unmarshal(r, &n); err != nil {
			errs = append(errs, fmt.Errorf("latency_ms: input should be a valid integer, got %s", r))
		}
		ev.LatencyMS = &n
	}
	if r, ok := obj["metadata"]; ok {
		if err := json.Unmarshal(r, &ev.Metadata); err != nil || ev.Metadata == nil {
			errs = append(errs, fmt.Errorf("metadata: input should be a valid dictionary, got %s", r))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if ev.SchemaVersion != "v1" {
		return nil, fmt.Errorf("schema_version %q, want v1", ev.SchemaVersion)
	}
	if want := ev.PostID + ":tagged:v1"; ev.IdempotencyKey != want {
		return nil, fmt.Errorf("idempotency_key %q, want %q", ev.IdempotencyKey, want)
	}
	if want := OldTagsHash(ev.Tags); ev.TagsHash != want {
		return nil, fmt.Errorf("tags_hash %s, compute_hash gives %s", ev.TagsHash, want)
	}
	return ev, nil
}

// parsePyDatetime accepts what pydantic accepts for a datetime field in
// the forms the old code wrote: RFC 3339 with T or a space, fractions,
// Z or an offset, or none (naive).
func parsePyDatetime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("input should be a valid datetime, got %q", s)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
