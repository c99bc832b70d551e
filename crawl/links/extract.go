// Package links finds the web links of a post and puts them in the one
// normal form that the enrich stage crawls, caches and stores them under
// (spec section 5, enrich, step 1). It is a leaf package: ingest uses it to
// fill posts.parsed urls, enrich to read them back or find them in the text.
package links

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Extract returns the http(s) URLs of a post text in order of
// appearance, without duplicates: the targets of Markdown links `[t](u)` and
// bare URLs, with trailing punctuation stripped. A URL shown as a link's
// label counts as a URL of its own (it is what the reader sees, and often the
// real destination behind a redirector). t.me and other links are kept:
// deciding what is worth crawling is the enrich stage's job (see Policy).
func Extract(text string) []string {
	var set Set
	set.AddText(text)
	return set.List()
}

// Set collects URLs in order, dropping repeats. The zero value is empty and
// ready. Posts carry a handful of URLs, so a linear search beats a map here.
type Set struct{ list []string }

// List returns the URLs collected so far, in order of first appearance.
func (s *Set) List() []string { return s.list }

func (s *Set) add(u string) {
	for _, seen := range s.list {
		if seen == u {
			return
		}
	}
	s.list = append(s.list, u)
}

// AddEntity adds the URL of a Telegram `link` entity (whose text is the
// URL as displayed) or `text_link` href. Telegram linkifies bare host names
// ("habr.com/ru/…"), so a missing scheme gets https://, the scheme browsers
// and Telegram's own link preview try first today; other schemes (tg://,
// mailto:, ftp://) are not crawlable and are dropped.
func (s *Set) AddEntity(raw string) {
	u := strings.TrimSpace(raw)
	if u == "" {
		return
	}
	if i := strings.Index(u, "://"); i >= 0 {
		if n := schemeLen(u, i); n == 0 || i+3 != n {
			return
		}
	} else if strings.ContainsAny(u, ":@ ") {
		return // mailto:, tg:…, an e-mail address: not a web page
	} else {
		u = "https://" + u
	}
	if !hostOK(u) {
		return
	}
	s.add(u)
}

// AddText adds the URLs found in text (see Extract).
func (s *Set) AddText(text string) {
	i := 0
	for i < len(text) {
		j := strings.Index(text[i:], "://")
		if j < 0 {
			return
		}
		sep := i + j
		n := schemeLen(text, sep)
		if n == 0 {
			i = sep + 3
			continue
		}
		start := sep + 3 - n
		// The target of a Markdown link ends at the parenthesis that closes
		// it; a bare scan would cut it at the first ")" of a Wikipedia URL.
		if start >= 2 && text[start-2:start] == "](" {
			if end, ok := markdownTargetEnd(text, sep+3); ok {
				if u := text[start:end]; hostOK(u) {
					s.add(u)
				}
				i = end + 1
				continue
			}
		}
		end := bareURLEnd(text, sep+3)
		if u := trimURL(text[start:end], n); hostOK(u) {
			s.add(u)
		}
		i = max(end, sep+3)
	}
}

// schemeLen returns the length of "http://" or "https://" (any case) when
// text[sep:] starts with "://" preceded by that scheme, else 0.
func schemeLen(text string, sep int) int {
	if sep >= 5 && strings.EqualFold(text[sep-5:sep], "https") {
		return 8
	}
	if sep >= 4 && strings.EqualFold(text[sep-4:sep], "http") {
		return 7
	}
	return 0
}

// markdownTargetEnd finds the ")" closing a Markdown link target that
// starts before from; parentheses inside the target must balance and
// whitespace ends it unsuccessfully (then the URL is read as a bare one).
func markdownTargetEnd(text string, from int) (int, bool) {
	depth := 0
	for k := from; k < len(text); k++ {
		switch c := text[k]; {
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return k, true
			}
			depth--
		case c <= ' ' || c == 0x7f:
			return 0, false
		}
	}
	return 0, false
}

// bareURLEnd returns where a bare URL starting before from ends: at
// whitespace, at a character never left unescaped in a URL (<>"[]{}|\^`),
// or at a non-ASCII character that is not a letter, digit or mark (so an
// emoji, « », — or … glued to a URL ends it, while Cyrillic paths and
// internationalised host names are kept).
func bareURLEnd(text string, from int) int {
	k := from
	for k < len(text) {
		c := text[k]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f || strings.IndexByte("<>\"[]{}|\\^`", c) >= 0 {
				return k
			}
			k++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[k:])
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
			return k
		}
		k += size
	}
	return k
}

// trimURL strips what ends a sentence rather than a URL: .,;:!?'*_ and a
// closing parenthesis with no opening one in the URL, as in "(see
// https://example.org)". A balanced one, as in
// https://en.wikipedia.org/wiki/Go_(programming_language), stays. "*" and
// "_" come from Markdown emphasis around a URL (**https://…**).
func trimURL(u string, schemeLen int) string {
	for len(u) > schemeLen {
		c := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?'*_", c) >= 0:
			u = u[:len(u)-1]
		case c == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

// hostOK reports whether u, which starts with a scheme and "://", has a host
// with at least one letter or digit.
func hostOK(u string) bool {
	i := strings.Index(u, "://")
	if i < 0 {
		return false
	}
	host := u[i+3:]
	if k := strings.IndexAny(host, "/?#"); k >= 0 {
		host = host[:k]
	}
	for _, r := range host {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
