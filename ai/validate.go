package ai

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Reasons a validator drops a tag; the tag stage exports them as the reason
// label of tagging_rejected_tags_total (spec section 5).
const (
	// RejectNotInText: the tag does not occur in the post text.
	RejectNotInText = "not_in_text"
	// RejectTooLong: more than MaxTagWords words or MaxTagChars characters.
	RejectTooLong = "too_long"
	// RejectDuplicate: equal to an earlier tag, ignoring case and ё/е.
	RejectDuplicate = "duplicate"
	// RejectOverLimit: a valid tag beyond maxTags.
	RejectOverLimit = "over_limit"
	// RejectNotJSON counts an answer in which no JSON array was found (at
	// most 1 per call). It is a parse problem, not a dropped tag.
	RejectNotJSON = "not_json"
	// RejectNotString counts array elements that are not strings (numbers,
	// objects, null) or are empty once trimmed.
	RejectNotString = "not_string"
)

// Limits of one tag (spec section 6).
const (
	MaxTagWords = 3
	MaxTagChars = 64
)

// ValidationResult is what survives validation, and why the rest did not.
type ValidationResult struct {
	// Tags are spelled as in the post text, in the model's order.
	Tags []string
	// Rejected counts dropped tags by reason (the Reject* constants); nil
	// when nothing was rejected.
	Rejected map[string]int
}

func (r *ValidationResult) reject(reason string) {
	if r.Rejected == nil {
		r.Rejected = make(map[string]int, 2)
	}
	r.Rejected[reason]++
}

// ValidateTags turns a model's raw answer into the tags that may be published
// (spec section 6). It finds a JSON array in raw (tolerating a Markdown fence,
// prose around the array and «» or “” quotes), keeps the string elements,
// trims whitespace and surrounding punctuation, collapses inner whitespace,
// and keeps a tag only if it occurs in text compared case-insensitively with
// ё folded to е (whitespace of the text collapsed too). Kept tags are
// reported as spelled in text. Tags over MaxTagWords words or MaxTagChars
// characters and repeated tags are dropped, and at most maxTags are kept
// (DefaultMaxTags when maxTags <= 0). It never returns a tag that is not in
// the text and never panics on garbage.
func ValidateTags(raw, text string, maxTags int) ValidationResult {
	var res ValidationResult
	if maxTags <= 0 {
		maxTags = DefaultMaxTags
	}
	elems, ok := arrayElements(raw)
	if !ok {
		res.reject(RejectNotJSON)
		return res
	}
	if len(elems) == 0 {
		return res
	}
	// The index of the text is built lazily (an answer of only junk needs
	// none), in buffers reused from call to call: nothing returned points
	// into them.
	nt := normTexts.Get().(*normText)
	defer nt.release()
	var tagBuf []byte
	seen := make([]string, 0, maxTags) // folded forms of kept tags
	for _, el := range elems {
		tag, ok := el.s, el.ok
		if !ok {
			res.reject(RejectNotString)
			continue
		}
		tag = strings.TrimFunc(tag, isTrimmable)
		if tag == "" {
			res.reject(RejectNotString)
			continue
		}
		tagBuf = foldAppend(tagBuf[:0], tag, nil)
		if utf8.RuneCount(tagBuf) > MaxTagChars || wordCount(tagBuf) > MaxTagWords {
			res.reject(RejectTooLong)
			continue
		}
		if !nt.built {
			nt.build(text)
		}
		start, end, found := nt.find(tagBuf)
		if !found {
			res.reject(RejectNotInText)
			continue
		}
		if containsString(seen, tagBuf) {
			res.reject(RejectDuplicate)
			continue
		}
		if len(res.Tags) >= maxTags {
			res.reject(RejectOverLimit)
			continue
		}
		seen = append(seen, string(tagBuf))
		if res.Tags == nil {
			res.Tags = make([]string, 0, maxTags)
		}
		res.Tags = append(res.Tags, collapseSpace(text[start:end]))
	}
	return res
}

func containsString(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) { // no allocation: the compiler compares in place
			return true
		}
	}
	return false
}

// isTrimmable reports runes removed from both ends of a tag: whitespace,
// punctuation (quotes, brackets, dots, «», #, @) and invisible format runes.
func isTrimmable(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.Is(unicode.Cf, r) || r == '`' || r == '*' || r == '~' || r == '|'
}

// FoldRune maps a rune to its comparison form: lower case, ё → е.
func FoldRune(r rune) rune {
	// Fast paths for ASCII and Cyrillic, nearly every rune of a post.
	switch {
	case r < utf8.RuneSelf:
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	case r >= 'а' && r <= 'я':
		return r
	case r >= 'А' && r <= 'Я':
		return r + ('а' - 'А')
	case r == 'Ё' || r == 'ё':
		return 'е'
	}
	r = unicode.ToLower(r)
	if r == 'ё' {
		return 'е'
	}
	return r
}

// FoldTag is the comparison form of a tag or text: lower-cased, ё folded to
// е, whitespace runs collapsed to one space and trimmed. Two tags are the
// same tag exactly when their FoldTag forms are equal.
func FoldTag(s string) string {
	return string(foldAppend(nil, strings.TrimSpace(s), nil))
}

// foldAppend appends the folded form of s to dst. When offs is not nil, it
// also records, for every byte appended, the byte offset in s of the rune it
// came from, and returns them through *offs. ASCII and two-byte runes
// (Cyrillic: nearly all of a post) take a path that neither decodes through
// utf8 nor looks up unicode tables; the result is the same
// (TestFoldAppendFastPathsChangeNothing).
func foldAppend(dst []byte, s string, offs *[]int32) []byte {
	inSpace := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace[c] {
				if !inSpace {
					inSpace = true
					dst = append(dst, ' ')
					if offs != nil {
						*offs = append(*offs, int32(i))
					}
				}
				i++
				continue
			}
			inSpace = false
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			if offs != nil {
				*offs = append(*offs, int32(i))
			}
			i++
			continue
		}
		if c >= 0xC2 && c < 0xE0 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			// A two-byte rune (Cyrillic, most of a Russian post), decoded
			// and, when it folds to another two-byte rune, encoded inline.
			r := rune(c&0x1F)<<6 | rune(s[i+1]&0x3F)
			if r != 0x85 && r != 0xA0 { // the two spaces among them
				inSpace = false
				if f := FoldRune(r); f >= 0x80 && f < 0x800 {
					dst = append(dst, byte(0xC0|f>>6), byte(0x80|f&0x3F))
					if offs != nil {
						*offs = append(*offs, int32(i), int32(i))
					}
					i += 2
					continue
				}
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		// No rune from U+0100 to U+167F is a space: skip the table lookup.
		if (r < 0x100 || r >= 0x1680) && unicode.IsSpace(r) {
			if !inSpace {
				inSpace = true
				dst = append(dst, ' ')
				if offs != nil {
					*offs = append(*offs, int32(i))
				}
			}
			i += size
			continue
		}
		inSpace = false
		before := len(dst)
		dst = utf8.AppendRune(dst, FoldRune(r))
		if offs != nil {
			for range len(dst) - before {
				*offs = append(*offs, int32(i))
			}
		}
		i += size
	}
	return dst
}

// asciiSpace marks the ASCII runes unicode.IsSpace reports.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// normText is a post text in folded form with a map back to the original.
type normText struct {
	folded []byte
	// offs[i] is the byte offset in the original text of folded byte i;
	// offs[len(folded)] is the length of the text.
	offs    []int32
	textLen int
	built   bool
}

var normTexts = sync.Pool{New: func() any { return new(normText) }}

// maxPooledText bounds the buffers kept for reuse (a huge post's are let go).
const maxPooledText = 64 << 10

func (n *normText) release() {
	if cap(n.folded) > maxPooledText {
		*n = normText{}
	}
	n.folded, n.offs, n.built = n.folded[:0], n.offs[:0], false
	normTexts.Put(n)
}

func (n *normText) build(text string) {
	n.offs = n.offs[:0]
	n.folded = foldAppend(n.folded[:0], text, &n.offs)
	n.offs = append(n.offs, int32(len(text)))
	n.textLen = len(text)
	n.built = true
}

// find locates tag (already folded) in the text and returns the byte span
// of the original text it matched. A match on word boundaries is preferred,
// so "ИИ" maps to the word «ИИ» rather than the inside of «России»; any
// substring match is accepted otherwise, as the spec's rule is a substring
// rule.
func (n *normText) find(tag []byte) (start, end int, ok bool) {
	first := -1
	for from := 0; from <= len(n.folded); {
		i := bytes.Index(n.folded[from:], tag)
		if i < 0 {
			break
		}
		i += from
		if first < 0 {
			first = i
		}
		if n.boundaryBefore(i) && n.boundaryAfter(i+len(tag)) {
			first = i
			break
		}
		_, size := utf8.DecodeRune(n.folded[i:])
		from = i + max(size, 1)
	}
	if first < 0 {
		return 0, 0, false
	}
	return int(n.offs[first]), int(n.offs[first+len(tag)]), true
}

func (n *normText) boundaryBefore(i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRune(n.folded[:i])
	return !isWordRune(r)
}

func (n *normText) boundaryAfter(i int) bool {
	if i >= len(n.folded) {
		return true
	}
	r, _ := utf8.DecodeRune(n.folded[i:])
	return !isWordRune(r)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func wordCount(b []byte) int {
	n, in := 0, false
	for _, c := range b {
		if c == ' ' {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

// collapseSpace returns s with whitespace runs replaced by one space; it
// returns s itself (no allocation) when there is nothing to replace.
func collapseSpace(s string) string {
	clean := true
	prevSpace := false
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (r != ' ' || prevSpace) {
			clean = false
			break
		}
		prevSpace = sp
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// element is one element of the answer's array: its string, ok false when
// it is not a string.
type element struct {
	s  string
	ok bool
}

// arrayElements finds the first JSON array in raw (findJSONArray) and reads
// its elements as strings.
func arrayElements(raw string) ([]element, bool) {
	if elems, ok := plainStringArray(raw); ok {
		return elems, true
	}
	raws, ok := findJSONArray(raw)
	if !ok {
		return nil, false
	}
	elems := make([]element, len(raws))
	for i, el := range raws {
		elems[i].s, elems[i].ok = elementString(el)
	}
	return elems, true
}

// plainStringArray reads the answer most taggers give — the first '['
// opens an array of strings without escapes, in valid UTF-8 — without
// encoding/json; on anything else it gives up (false), and findJSONArray
// reads the answer. Where it does not give up, the two agree
// (TestPlainStringArrayAgreesWithTheDecoder).
func plainStringArray(raw string) ([]element, bool) {
	i := strings.IndexByte(raw, '[')
	if i < 0 {
		return nil, false
	}
	s := raw[i+1:]
	skipWS := func() {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
			s = s[1:]
		}
	}
	var elems []element
	skipWS()
	if strings.HasPrefix(s, "]") {
		return []element{}, true
	}
	for {
		if !strings.HasPrefix(s, `"`) {
			return nil, false
		}
		end := 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' || s[end] < 0x20 {
				return nil, false
			}
			end++
		}
		if end == len(s) || !utf8.ValidString(s[1:end]) {
			return nil, false
		}
		elems = append(elems, element{s: s[1:end], ok: true})
		s = s[end+1:]
		skipWS()
		switch {
		case strings.HasPrefix(s, "]"):
			return elems, true
		case strings.HasPrefix(s, ","):
			s = s[1:]
			skipWS()
		default:
			return nil, false
		}
	}
}

// maxArrayStarts bounds how many '[' the parser tries, so a long garbage
// answer costs little.
const maxArrayStarts = 32

// findJSONArray finds the first JSON array in raw. It tries the answer as
// the model wrote it, then with «», “” and „“ quotes replaced by ASCII ones.
func findJSONArray(raw string) ([]json.RawMessage, bool) {
	if elems, ok := scanArrays(raw); ok {
		return elems, true
	}
	if strings.ContainsAny(raw, "«»“”„") {
		fixed := strings.NewReplacer("«", `"`, "»", `"`, "“", `"`, "”", `"`, "„", `"`).Replace(raw)
		if elems, ok := scanArrays(fixed); ok {
			return elems, true
		}
	}
	return nil, false
}

// scanArrays decodes a JSON array at each '[' of s in turn (a Markdown fence
// or prose before it is skipped; anything after it is ignored).
func scanArrays(s string) ([]json.RawMessage, bool) {
	from := 0
	for range maxArrayStarts {
		i := strings.IndexByte(s[from:], '[')
		if i < 0 {
			return nil, false
		}
		from += i
		var elems []json.RawMessage
		dec := json.NewDecoder(strings.NewReader(s[from:]))
		if err := dec.Decode(&elems); err == nil {
			return elems, true
		}
		from++
	}
	return nil, false
}

func elementString(el json.RawMessage) (string, bool) {
	if len(el) == 0 || el[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(el, &s); err != nil {
		return "", false
	}
	return s, true
}
