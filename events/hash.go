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
// whitespace collapsed (docs/events.md, "Hashes"), exactly as the old
// system's ingest computes it in Python:
//
//	" ".join(text.lower().strip().split())
//
// so Python's rules apply, not Go's: str.split and str.strip take U+001C–
// U+001F for whitespace (unicode.IsSpace does not), and str.lower maps
// U+0130 to "i̇" (two runes) and a capital sigma at the end of a word to
// "ς" (Unicode's Final_Sigma), where unicode.ToLower gives "i" and "σ".
// It streams the normalised text into the hash instead of building it,
// since it runs for every post.
func ContentHash(text string) string {
	h := sha256.New()
	var buf [512]byte
	out := buf[:0]
	started, pendingSpace := false, false
	// prevCased: the last rune that is not case-ignorable was cased (the
	// left side of the Final_Sigma context).
	prevCased := false
	for i, r := range text {
		if pyIsSpace(r) {
			pendingSpace = started // leading whitespace is trimmed
			prevCased = false
			continue
		}
		if pendingSpace {
			out = append(out, ' ')
			pendingSpace = false
		}
		started = true
		switch {
		case r == 'İ':
			out = append(out, "i\u0307"...)
		case r == 'Σ' && prevCased && !casedFollows(text[i+len("Σ"):]):
			out = append(out, "ς"...)
		default:
			out = utf8.AppendRune(out, unicode.ToLower(r))
		}
		if !isCaseIgnorable(r) {
			prevCased = isCased(r)
		}
		if len(out) > len(buf)-2*utf8.UTFMax {
			h.Write(out)
			out = buf[:0]
		}
	}
	h.Write(out)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// pyIsSpace is Python's str.isspace for one character: Unicode White_Space
// plus the information separators U+001C–U+001F (bidirectional class B/S).
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// casedFollows reports whether the first rune of s that is not
// case-ignorable is cased (the right side of the Final_Sigma context: a
// sigma followed by one is not final).
func casedFollows(s string) bool {
	for _, r := range s {
		if !isCaseIgnorable(r) {
			return isCased(r)
		}
	}
	return false
}

// isCased is Unicode's Cased property: Lowercase, Uppercase or Lt.
func isCased(r rune) bool {
	if r < 0x80 {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	if r < 0x80 {
		return r == '^' || r == '`' // Sk; no ASCII rune is Mn, Me, Cf or Lm
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
