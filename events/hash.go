package events

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TagsHash is the lower-case hex SHA-256 of the tags as Python's
// json.dumps(sorted(set(tags)), ensure_ascii=False) prints them, empty tags
// dropped. It keeps hashes equal to those the old system stored.
func TagsHash(tags []string) string {
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != "" {
			clean = append(clean, t)
		}
	}
	slices.Sort(clean) // Go compares strings bytewise: UTF-8 order is code-point order
	clean = slices.Compact(clean)

	var b strings.Builder
	b.WriteByte('[')
	for i, t := range clean {
		if i > 0 {
			b.WriteString(", ")
		}
		writePythonJSONString(&b, t)
	}
	b.WriteByte(']')
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// writePythonJSONString quotes s as json.dumps(ensure_ascii=False) does:
// only ", \ and control characters are escaped.
func writePythonJSONString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
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
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// ContentHash is the SHA-256 hex of the text lower-cased, trimmed and with
// whitespace collapsed (docs/events.md, "Hashes"). It streams the normalised text
// into the hash instead of building it, since it runs for every post.
func ContentHash(text string) string {
	h := sha256.New()
	var buf [512]byte
	out := buf[:0]
	started, pendingSpace := false, false
	for _, r := range text {
		if unicode.IsSpace(r) {
			pendingSpace = started // leading whitespace is trimmed
			continue
		}
		if pendingSpace {
			out = append(out, ' ')
			pendingSpace = false
		}
		started = true
		out = utf8.AppendRune(out, unicode.ToLower(r))
		if len(out) > len(buf)-2*utf8.UTFMax {
			h.Write(out)
			out = buf[:0]
		}
	}
	h.Write(out)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
