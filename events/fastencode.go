package events

// fastencode.go: the JSON of posts.parsed and posts.tagged written field by
// field instead of by encoding/json's reflection, byte for byte what Encode
// wrote with encoding/json (field order, omitempty and omitzero, null for a
// nil slice, sorted map keys, the escaping of an Encoder without HTML
// escaping, times as their MarshalJSON writes them). The test
// (TestFastEncodeWritesWhatEncodingJSONWrites and its fuzz) compares the
// two. A time that MarshalJSON refuses falls back to encoding/json, which
// reports the error.

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fastEncoder is an event type with a fast encoder of its JSON object.
type fastEncoder interface {
	// encodeFast writes the event's JSON to b; false when it cannot (b is
	// then to be thrown away).
	encodeFast(b *strings.Builder) bool
}

// jwriter writes one JSON object.
type jwriter struct {
	b     *strings.Builder
	comma bool
	ok    bool
}

func (w *jwriter) key(k string) {
	if w.comma {
		w.b.WriteByte(',')
	}
	w.comma = true
	w.b.WriteByte('"')
	w.b.WriteString(k) // the event's own keys: nothing to escape
	w.b.WriteString(`":`)
}

func (w *jwriter) str(k, v string) {
	w.key(k)
	writeJSONString(w.b, v)
}

func (w *jwriter) strOmitEmpty(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *jwriter) int(k string, v int64) {
	w.key(k)
	var buf [20]byte
	w.b.Write(strconv.AppendInt(buf[:0], v, 10))
}

func (w *jwriter) intOmitEmpty(k string, v int64) {
	if v != 0 {
		w.int(k, v)
	}
}

func (w *jwriter) time(k string, t time.Time) {
	w.key(k)
	// What MarshalJSON writes, without its allocation: the same strict
	// RFC 3339, in quotes.
	var buf [64]byte
	b, err := t.AppendText(buf[:0])
	if err != nil {
		w.ok = false
		return
	}
	w.b.WriteByte('"')
	w.b.Write(b)
	w.b.WriteByte('"')
}

func (w *jwriter) timeOmitZero(k string, t time.Time) {
	if !t.IsZero() {
		w.time(k, t)
	}
}

func (w *jwriter) strings(k string, v []string) {
	w.key(k)
	if v == nil {
		w.b.WriteString("null")
		return
	}
	w.b.WriteByte('[')
	for i, s := range v {
		if i > 0 {
			w.b.WriteByte(',')
		}
		writeJSONString(w.b, s)
	}
	w.b.WriteByte(']')
}

func (w *jwriter) stringsOmitEmpty(k string, v []string) {
	if len(v) > 0 {
		w.strings(k, v)
	}
}

func (w *jwriter) strMapOmitEmpty(k string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.key(k)
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	w.b.WriteByte('{')
	for i, key := range keys {
		if i > 0 {
			w.b.WriteByte(',')
		}
		writeJSONString(w.b, key)
		w.b.WriteByte(':')
		writeJSONString(w.b, m[key])
	}
	w.b.WriteByte('}')
}

func (w *jwriter) envelope(e *Envelope) {
	w.str("schema_version", e.SchemaVersion)
	w.str("trace_id", e.TraceID)
	w.time("occurred_at", e.OccurredAt)
	w.str("idempotency_key", e.IdempotencyKey)
}

const hexDigits = "0123456789abcdef"

// writeJSONString quotes s as an encoding/json Encoder with SetEscapeHTML
// (false) does: \" \\ \b \f \n \r \t, \u00XX for other control bytes,
// \ufffd for each byte of invalid UTF-8, \u2028 and \u2029; the rest as is.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '\\', '"':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		if c >= 0xC2 && c < 0xE0 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			// A valid two-byte rune (Cyrillic, most of a post): nothing
			// to escape, no need to decode it.
			i += 2
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// sizeHint is about the length of an event's JSON with strings of n bytes
// in all: the keys, the times and numbers, and room for escapes (a post's
// newlines), so that the builder allocates once.
func sizeHint(n int) int { return n + n/8 + 768 }

func (p *PostParsed) encodeFast(b *strings.Builder) bool {
	b.Grow(sizeHint(len(p.Text) + len(p.ChannelTitle) + len(p.PostID) + len(p.ChannelID) + len(p.TraceID) +
		len(p.IdempotencyKey) + len(p.ContentHash) + len(p.TelegramPostURL) + 80*(len(p.URLs)+len(p.MediaSHA256List))))
	w := jwriter{b: b, ok: true}
	b.WriteByte('{')
	w.envelope(&p.Envelope)
	w.str("post_id", p.PostID)
	w.str("channel_id", p.ChannelID)
	w.str("text", p.Text)
	w.time("posted_at", p.PostedAt)
	w.strOmitEmpty("tenant_id", p.TenantID)
	w.strOmitEmpty("user_id", p.UserID)
	w.intOmitEmpty("tg_channel_id", p.TGChannelID)
	w.intOmitEmpty("tg_message_id", p.TGMessageID)
	w.strOmitEmpty("telegram_post_url", p.TelegramPostURL)
	w.stringsOmitEmpty("urls", p.URLs)
	w.strOmitEmpty("content_hash", p.ContentHash)
	if p.HasMedia {
		w.key("has_media")
		b.WriteString("true")
	}
	w.stringsOmitEmpty("media_sha256_list", p.MediaSHA256List)
	w.intOmitEmpty("views_count", p.ViewsCount)
	w.intOmitEmpty("forwards_count", p.ForwardsCount)
	w.intOmitEmpty("reply_to_message_id", p.ReplyToMessageID)
	w.strOmitEmpty("channel_title", p.ChannelTitle)
	w.timeOmitZero("received_at", p.ReceivedAt)
	w.strOmitEmpty("retag", p.Retag)
	b.WriteByte('}')
	return w.ok
}

func (p *PostTagged) encodeFast(b *strings.Builder) bool {
	b.Grow(sizeHint(len(p.Text) + len(p.ChannelTitle) + len(p.PostID) + len(p.ChannelID) + len(p.TraceID) +
		len(p.IdempotencyKey) + len(p.ContentHash) + len(p.TagsHash) + 80*(len(p.URLs)+len(p.Tags))))
	w := jwriter{b: b, ok: true}
	b.WriteByte('{')
	w.envelope(&p.Envelope)
	w.str("post_id", p.PostID)
	w.str("channel_id", p.ChannelID)
	w.strOmitEmpty("tenant_id", p.TenantID)
	w.str("text", p.Text)
	w.strings("urls", p.URLs)
	w.time("posted_at", p.PostedAt)
	w.str("content_hash", p.ContentHash)
	w.strings("tags", p.Tags)
	w.str("tags_hash", p.TagsHash)
	w.str("provider", p.Provider)
	w.str("model", p.Model)
	w.str("prompt_version", p.PromptVersion)
	w.int("latency_ms", p.LatencyMS)
	w.str("trigger", p.Trigger)
	w.timeOmitZero("received_at", p.ReceivedAt)
	w.strOmitEmpty("user_id", p.UserID)
	w.strMapOmitEmpty("metadata", p.Metadata)
	w.strOmitEmpty("channel_title", p.ChannelTitle)
	b.WriteByte('}')
	return w.ok
}
