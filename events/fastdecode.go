package events

// fastdecode.go: a decoder of the data form of the two events every post
// passes through (posts.parsed and posts.tagged) that is several times
// cheaper than encoding/json's reflection. It is not a second definition of
// the format: it gives the result encoding/json gives on the inputs it
// accepts, and gives up on everything else (a null, an escaped surrogate,
// a time encoding/json would refuse, a key that matches a field only by
// case folding, a number with a fraction, anything malformed), which Decode
// then hands to encoding/json as before — so the errors, their reasons and
// the old system's time forms are encoding/json's, unchanged. The fuzz test
// (FuzzFastDecodeAgreesWithEncodingJSON) holds it to that.

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// fastDecoder is an event type with a fast decoder of its JSON object.
type fastDecoder interface {
	// decodeFast fills the event from s, a JSON object, and reports
	// whether it could; on false the event is left as it was.
	decodeFast(s string) bool
}

// jscan reads one JSON text. Its methods return false on anything they do
// not handle exactly as encoding/json does; the caller then gives up.
type jscan struct {
	s string
	i int
}

func (sc *jscan) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c when it comes next.
func (sc *jscan) next(c byte) bool {
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte (0 at the end).
func (sc *jscan) peek() byte {
	sc.ws()
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

// str reads a string. Without escapes it is a slice of the input, with
// them it is unescaped as encoding/json does; an escaped UTF-16 surrogate
// that does not pair up (encoding/json writes U+FFFD for it) gives up. So
// does invalid UTF-8: strings are the only place where the input may have
// bytes beyond ASCII, so an input the scanner accepts is valid UTF-8, which
// Decode requires (it checks no more when the fast path took the input).
func (sc *jscan) str() (string, bool) {
	if !sc.next('"') {
		return "", false
	}
	start := sc.i
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return sc.s[start : sc.i-1], true
		case c == '\\':
			return sc.strEscaped(start)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			sc.i++
		case c >= 0xC2 && c < 0xE0 && sc.i+1 < len(sc.s) && sc.s[sc.i+1]&0xC0 == 0x80:
			sc.i += 2 // a valid two-byte rune (Cyrillic): no need to decode it
		default:
			r, size := utf8.DecodeRuneInString(sc.s[sc.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			sc.i += size
		}
	}
	return "", false
}

func (sc *jscan) strEscaped(start int) (string, bool) {
	// The unescaped string is no longer than the quoted one: find where
	// that ends (the first quote not escaped) to allocate once.
	end := sc.i
	for end < len(sc.s) && sc.s[end] != '"' {
		if sc.s[end] == '\\' {
			end++
		}
		end++
	}
	var buf strings.Builder
	buf.Grow(min(end, len(sc.s)) - start)
	buf.WriteString(sc.s[start:sc.i]) // checked by str
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return buf.String(), true
		case c < 0x20:
			return "", false
		case c != '\\':
			// Copy the run up to the next quote, backslash or control
			// character at once.
			j := sc.i + 1
			for j < len(sc.s) && sc.s[j] != '"' && sc.s[j] != '\\' && sc.s[j] >= 0x20 {
				j++
			}
			// A run between escapes is whole runes: no multi-byte rune
			// holds a quote, a backslash or a control byte.
			if !utf8.ValidString(sc.s[sc.i:j]) {
				return "", false
			}
			buf.WriteString(sc.s[sc.i:j])
			sc.i = j
			continue
		}
		if sc.i+1 >= len(sc.s) {
			return "", false
		}
		e := sc.s[sc.i+1]
		sc.i += 2
		switch e {
		case '"', '\\', '/':
			buf.WriteByte(e)
		case 'b':
			buf.WriteByte('\b')
		case 'f':
			buf.WriteByte('\f')
		case 'n':
			buf.WriteByte('\n')
		case 'r':
			buf.WriteByte('\r')
		case 't':
			buf.WriteByte('\t')
		case 'u':
			r, ok := sc.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				if !strings.HasPrefix(sc.s[sc.i:], `\u`) {
					return "", false
				}
				sc.i += 2
				r2, ok := sc.hex4()
				if !ok {
					return "", false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false
				}
			}
			buf.WriteRune(r)
		default:
			return "", false
		}
	}
	return "", false
}

func (sc *jscan) hex4() (rune, bool) {
	if sc.i+4 > len(sc.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(sc.s[sc.i : sc.i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	sc.i += 4
	return r, true
}

// int64 reads an integer: -?(0|[1-9][0-9]*). A fraction or an exponent is
// left unread, so the caller's next check fails and gives up (encoding/json
// refuses 1.0 for an integer field and reads 1e3 as an error too).
func (sc *jscan) int64() (int64, bool) {
	sc.ws()
	start := sc.i
	if sc.i < len(sc.s) && sc.s[sc.i] == '-' {
		sc.i++
	}
	digits := sc.i
	if sc.i < len(sc.s) && sc.s[sc.i] == '0' {
		sc.i++
	} else {
		for sc.i < len(sc.s) && '0' <= sc.s[sc.i] && sc.s[sc.i] <= '9' {
			sc.i++
		}
	}
	if sc.i == digits {
		return 0, false
	}
	n, err := strconv.ParseInt(sc.s[start:sc.i], 10, 64)
	return n, err == nil
}

func (sc *jscan) bool() (bool, bool) {
	sc.ws()
	switch {
	case strings.HasPrefix(sc.s[sc.i:], "true"):
		sc.i += 4
		return true, true
	case strings.HasPrefix(sc.s[sc.i:], "false"):
		sc.i += 5
		return false, true
	}
	return false, false
}

// time reads an RFC 3339 time as time.Time's UnmarshalJSON does; the old
// system's other forms give up, for Decode's rewrite.
func (sc *jscan) time() (time.Time, bool) {
	sc.ws()
	start := sc.i
	s, ok := sc.str()
	if !ok || len(s) != sc.i-start-2 { // escaped: leave it to encoding/json
		return time.Time{}, false
	}
	// UnmarshalJSON of a quoted string without escapes is UnmarshalText
	// of what is inside the quotes.
	var buf [64]byte
	var t time.Time
	if t.UnmarshalText(append(buf[:0], s...)) != nil {
		return time.Time{}, false
	}
	return t, true
}

// strings reads an array of strings; [] is an empty, non-nil slice, as
// encoding/json makes it.
func (sc *jscan) strings() ([]string, bool) {
	if !sc.next('[') {
		return nil, false
	}
	out := []string{}
	if sc.next(']') {
		return out, true
	}
	for {
		s, ok := sc.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if sc.next(']') {
			return out, true
		}
		if !sc.next(',') {
			return nil, false
		}
	}
}

// strMap reads an object of strings into a new map.
func (sc *jscan) strMap() (map[string]string, bool) {
	if !sc.next('{') {
		return nil, false
	}
	out := map[string]string{}
	if sc.next('}') {
		return out, true
	}
	for {
		k, ok := sc.str()
		if !ok || !sc.next(':') {
			return nil, false
		}
		v, ok := sc.str()
		if !ok {
			return nil, false
		}
		out[k] = v
		if sc.next('}') {
			return out, true
		}
		if !sc.next(',') {
			return nil, false
		}
	}
}

// maxSkipDepth bounds the nesting of an unknown field's value the fast path
// skips; deeper ones are left to encoding/json.
const maxSkipDepth = 64

// skip reads and checks one value of a field the event does not have.
func (sc *jscan) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch c := sc.peek(); {
	case c == '"':
		_, ok := sc.str()
		return ok
	case c == '{':
		sc.i++
		if sc.next('}') {
			return true
		}
		for {
			if _, ok := sc.str(); !ok || !sc.next(':') || !sc.skip(depth+1) {
				return false
			}
			if sc.next('}') {
				return true
			}
			if !sc.next(',') {
				return false
			}
		}
	case c == '[':
		sc.i++
		if sc.next(']') {
			return true
		}
		for {
			if !sc.skip(depth + 1) {
				return false
			}
			if sc.next(']') {
				return true
			}
			if !sc.next(',') {
				return false
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(sc.s[sc.i:], lit) {
				sc.i += len(lit)
				return true
			}
		}
		return false
	case c == '-' || '0' <= c && c <= '9':
		return sc.number()
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (sc *jscan) number() bool {
	digits := func() int {
		n := 0
		for sc.i < len(sc.s) && '0' <= sc.s[sc.i] && sc.s[sc.i] <= '9' {
			sc.i++
			n++
		}
		return n
	}
	if sc.s[sc.i] == '-' {
		sc.i++
	}
	if sc.i < len(sc.s) && sc.s[sc.i] == '0' {
		sc.i++
	} else if digits() == 0 {
		return false
	}
	if sc.i < len(sc.s) && sc.s[sc.i] == '.' {
		sc.i++
		if digits() == 0 {
			return false
		}
	}
	if sc.i < len(sc.s) && (sc.s[sc.i] == 'e' || sc.s[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.s) && (sc.s[sc.i] == '+' || sc.s[sc.i] == '-') {
			sc.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// object reads the top-level object, calling field with the scanner on
// each value; field returns false to give up. Nothing may follow the
// object but whitespace. The readers of the fields' types give up on a
// null (encoding/json leaves a string as it was, sets a slice to nil ...).
func (sc *jscan) object(field func(key string) bool) bool {
	if !sc.next('{') {
		return false
	}
	if !sc.next('}') {
		for {
			key, ok := sc.str()
			if !ok || !sc.next(':') {
				return false
			}
			if !field(key) {
				return false
			}
			if sc.next('}') {
				break
			}
			if !sc.next(',') {
				return false
			}
		}
	}
	sc.ws()
	return sc.i == len(sc.s)
}

// unknown skips the value of a key the event has no field for, unless the
// key names a field when folded.
func (sc *jscan) unknown(names []string, key string) bool {
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return false
		}
	}
	return sc.skip(0)
}

var envelopeNames = []string{"schema_version", "trace_id", "occurred_at", "idempotency_key"}

// envelope reads an envelope field; known is false for other keys.
func (sc *jscan) envelope(e *Envelope, key string) (known, ok bool) {
	switch key {
	case "schema_version":
		e.SchemaVersion, ok = sc.str()
	case "trace_id":
		e.TraceID, ok = sc.str()
	case "occurred_at":
		e.OccurredAt, ok = sc.time()
	case "idempotency_key":
		e.IdempotencyKey, ok = sc.str()
	default:
		return false, false
	}
	return true, ok
}

var parsedNames = append(append([]string{}, envelopeNames...),
	"post_id", "channel_id", "text", "posted_at", "tenant_id", "user_id", "tg_channel_id",
	"tg_message_id", "telegram_post_url", "urls", "content_hash", "has_media",
	"media_sha256_list", "views_count", "forwards_count", "reply_to_message_id",
	"channel_title", "received_at", "retag")

func (p *PostParsed) decodeFast(s string) bool {
	v := *p
	sc := jscan{s: s}
	ok := sc.object(func(key string) bool {
		if known, ok := sc.envelope(&v.Envelope, key); known {
			return ok
		}
		ok := true
		switch key {
		case "post_id":
			v.PostID, ok = sc.str()
		case "channel_id":
			v.ChannelID, ok = sc.str()
		case "text":
			v.Text, ok = sc.str()
		case "posted_at":
			v.PostedAt, ok = sc.time()
		case "tenant_id":
			v.TenantID, ok = sc.str()
		case "user_id":
			v.UserID, ok = sc.str()
		case "tg_channel_id":
			v.TGChannelID, ok = sc.int64()
		case "tg_message_id":
			v.TGMessageID, ok = sc.int64()
		case "telegram_post_url":
			v.TelegramPostURL, ok = sc.str()
		case "urls":
			v.URLs, ok = sc.strings()
		case "content_hash":
			v.ContentHash, ok = sc.str()
		case "has_media":
			v.HasMedia, ok = sc.bool()
		case "media_sha256_list":
			v.MediaSHA256List, ok = sc.strings()
		case "views_count":
			v.ViewsCount, ok = sc.int64()
		case "forwards_count":
			v.ForwardsCount, ok = sc.int64()
		case "reply_to_message_id":
			v.ReplyToMessageID, ok = sc.int64()
		case "channel_title":
			v.ChannelTitle, ok = sc.str()
		case "received_at":
			v.ReceivedAt, ok = sc.time()
		case "retag":
			v.Retag, ok = sc.str()
		default:
			return sc.unknown(parsedNames, key)
		}
		return ok
	})
	if ok {
		*p = v
	}
	return ok
}

var taggedNames = append(append([]string{}, envelopeNames...),
	"post_id", "channel_id", "tenant_id", "text", "urls", "posted_at", "content_hash", "tags",
	"tags_hash", "provider", "model", "prompt_version", "latency_ms", "trigger", "received_at",
	"user_id", "metadata", "channel_title")

func (p *PostTagged) decodeFast(s string) bool {
	v := *p
	sc := jscan{s: s}
	ok := sc.object(func(key string) bool {
		if known, ok := sc.envelope(&v.Envelope, key); known {
			return ok
		}
		ok := true
		switch key {
		case "post_id":
			v.PostID, ok = sc.str()
		case "channel_id":
			v.ChannelID, ok = sc.str()
		case "tenant_id":
			v.TenantID, ok = sc.str()
		case "text":
			v.Text, ok = sc.str()
		case "urls":
			v.URLs, ok = sc.strings()
		case "posted_at":
			v.PostedAt, ok = sc.time()
		case "content_hash":
			v.ContentHash, ok = sc.str()
		case "tags":
			v.Tags, ok = sc.strings()
		case "tags_hash":
			v.TagsHash, ok = sc.str()
		case "provider":
			v.Provider, ok = sc.str()
		case "model":
			v.Model, ok = sc.str()
		case "prompt_version":
			v.PromptVersion, ok = sc.str()
		case "latency_ms":
			v.LatencyMS, ok = sc.int64()
		case "trigger":
			v.Trigger, ok = sc.str()
		case "received_at":
			v.ReceivedAt, ok = sc.time()
		case "user_id":
			v.UserID, ok = sc.str()
		case "metadata":
			// encoding/json adds to a map that is already there; only a
			// first, fresh one is read here.
			if v.Metadata != nil {
				return false
			}
			v.Metadata, ok = sc.strMap()
		case "channel_title":
			v.ChannelTitle, ok = sc.str()
		default:
			return sc.unknown(taggedNames, key)
		}
		return ok
	})
	if ok {
		*p = v
	}
	return ok
}
