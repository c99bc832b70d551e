// Package local holds the offline providers: a statistical key-phrase
// tagger and a feature-hashing embedder. They need no network and no key, so
// the daemon works out of the box (spec section 8) and tests are
// deterministic.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/ai"
)

// ProviderName is the provider label of the local tagger and embedder.
const ProviderName = "local"

// TaggerModel names the key-phrase algorithm; bump it when scoring changes,
// since it is stored with every tag set.
const TaggerModel = "keyphrase-v1"

// maxPhraseWords is the longest tag the tagger proposes (spec: 1–3 words).
const maxPhraseWords = 3

// Tagger picks key phrases from the text itself, RAKE-style: stop words,
// punctuation, line breaks, URLs and Markdown split the text into runs of
// content words; every 1–3-word window of a run is a candidate phrase,
// scored YAKE-style from the frequency of its words (counted by a crude
// stem, so Russian inflections add up), their first position (titles come
// first in posts) and their casing (names and acronyms). Candidates are
// always exact spans of the text, so they pass ai.ValidateTags by
// construction. A Tagger is immutable and safe for concurrent use.
type Tagger struct {
	stop map[string]struct{}
}

// NewTagger builds the tagger with its embedded Russian and English stop
// words.
func NewTagger() *Tagger {
	stop := make(map[string]struct{}, 1024)
	for _, list := range []string{russianStopWords, englishStopWords} {
		for _, w := range strings.Fields(list) {
			stop[foldWord(w)] = struct{}{}
		}
	}
	return &Tagger{stop: stop}
}

var _ ai.Tagger = (*Tagger)(nil)

// Tag implements ai.Tagger. Raw is a JSON array of phrases.
func (t *Tagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	if err := ctx.Err(); err != nil {
		return ai.TagResponse{}, fmt.Errorf("local tagger: %w", err)
	}
	maxTags := req.MaxTags
	if maxTags <= 0 {
		maxTags = ai.DefaultMaxTags
	}
	phrases := t.Extract(req.Text, maxTags)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(phrases); err != nil {
		return ai.TagResponse{}, fmt.Errorf("local tagger: encode tags: %w", err)
	}
	return ai.TagResponse{
		Raw:      strings.TrimSpace(buf.String()),
		Provider: ProviderName,
		Model:    TaggerModel,
	}, nil
}

// token is one word of the text.
type token struct {
	start, end int    // byte span in the text
	folded     string // lower-case, ё → е
	stem       string // crude stem: groups inflected forms
	runes      int
	// breakBefore: a phrase may not join this token to the previous one.
	breakBefore bool
	// sentenceStart: first word of a sentence or line (its capital letter
	// says nothing about it being a name).
	sentenceStart bool
	content       bool // not a stop word, not a number, long enough
	capitalized   bool
	acronym       bool
}

type wordStat struct {
	tf       int
	first    int
	proper   int // capitalised away from a sentence start, or an acronym
	verbLike bool
}

type candidate struct {
	key      string // folded words joined by one space
	start    int    // byte span of the first occurrence
	end      int
	first    int // token index of the first occurrence
	count    int
	words    int
	stems    []string
	score    float64
	wholeRun bool
}

// Extract returns up to max key phrases of text, best first, each spelled
// exactly as in the text, distinct ignoring case and ё/е.
func (t *Tagger) Extract(text string, max int) []string {
	if max <= 0 {
		return nil
	}
	toks := t.tokenize(text)
	if len(toks) == 0 {
		return []string{}
	}
	stats := make(map[string]*wordStat, len(toks))
	for i := range toks {
		tk := &toks[i]
		if !tk.content {
			continue
		}
		ws := stats[tk.stem]
		if ws == nil {
			ws = &wordStat{first: i, verbLike: true}
			stats[tk.stem] = ws
		}
		ws.tf++
		if tk.acronym || (tk.capitalized && !tk.sentenceStart) {
			ws.proper++
		}
		// A word is verb-like only if every form of it looks like a verb.
		ws.verbLike = ws.verbLike && !tk.capitalized && looksLikeVerb(tk.folded)
	}
	wordScore := func(tk *token) float64 {
		ws := stats[tk.stem]
		s := 1 + math.Log(float64(ws.tf))
		if ws.proper > 0 {
			s *= 1.6
		}
		s *= 1 + 1/(1+float64(ws.first)/15)
		if tk.runes < 3 && !tk.acronym {
			s *= 0.5
		}
		if ws.verbLike {
			s *= 0.55
		}
		return s
	}

	cands := make(map[string]*candidate, len(toks)*2)
	order := make([]*candidate, 0, len(toks)*2)
	var key strings.Builder
	for runStart := 0; runStart < len(toks); {
		if !toks[runStart].content {
			runStart++
			continue
		}
		runEnd := runStart + 1
		for runEnd < len(toks) && toks[runEnd].content && !toks[runEnd].breakBefore {
			runEnd++
		}
		runLen := runEnd - runStart
		for i := runStart; i < runEnd; i++ {
			for n := 1; n <= maxPhraseWords && i+n <= runEnd; n++ {
				key.Reset()
				for j := i; j < i+n; j++ {
					if j > i {
						key.WriteByte(' ')
					}
					key.WriteString(toks[j].folded)
				}
				k := key.String()
				c := cands[k]
				if c == nil {
					c = &candidate{key: k, start: toks[i].start, end: toks[i+n-1].end, first: i, words: n}
					for j := i; j < i+n; j++ {
						c.stems = append(c.stems, toks[j].stem)
					}
					cands[k] = c
					order = append(order, c)
				}
				c.count++
				if n == runLen {
					c.wholeRun = true
				}
				// Score from the occurrence with the best words (they are
				// the same words each time, so the first one will do).
				if c.count == 1 {
					sum := 0.0
					for j := i; j < i+n; j++ {
						sum += wordScore(&toks[j])
					}
					c.score = sum / float64(n) * (1 + 0.35*float64(n-1))
					if looksLikeAdjective(toks[i+n-1].folded) && !toks[i+n-1].capitalized {
						// "кратер необычной", "ударный": adjectives make
						// poor tags unless a noun follows.
						c.score *= 0.6
					}
					if n > 1 && stats[toks[i].stem].verbLike {
						c.score *= 0.7
					}
				}
			}
		}
		runStart = runEnd
	}
	for _, c := range order {
		if c.count > 1 {
			c.score *= 1 + 0.5*math.Log(float64(c.count))
		}
		if c.wholeRun && c.words > 1 {
			c.score *= 1.2
		}
		if c.end-c.start > 0 && utf8.RuneCountInString(text[c.start:c.end]) > ai.MaxTagChars {
			c.score = -1
		}
	}
	slices.SortStableFunc(order, func(a, b *candidate) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case a.first != b.first:
			return a.first - b.first
		default:
			return strings.Compare(a.key, b.key)
		}
	})

	picked := make([]*candidate, 0, max)
	usedStems := make(map[string]bool, max*3)
	// First pass: phrases that share no word with a better one, so five tags
	// cover five things. Second pass: fill up with the rest.
	for pass := 0; pass < 2 && len(picked) < max; pass++ {
		for _, c := range order {
			if len(picked) >= max {
				break
			}
			if c.score < 0 || slices.Contains(picked, c) {
				continue
			}
			if pass == 0 {
				overlap := false
				for _, s := range c.stems {
					if usedStems[s] {
						overlap = true
						break
					}
				}
				if overlap {
					continue
				}
			} else if containsFolded(picked, c) {
				continue
			}
			picked = append(picked, c)
			for _, s := range c.stems {
				usedStems[s] = true
			}
		}
	}
	out := make([]string, 0, len(picked))
	for _, c := range picked {
		out = append(out, strings.Join(strings.Fields(text[c.start:c.end]), " "))
	}
	return out
}

// containsFolded reports whether c's words are a sub-phrase of a picked
// phrase or the other way round ("кратер" after "ударный кратер").
func containsFolded(picked []*candidate, c *candidate) bool {
	for _, p := range picked {
		if strings.Contains(" "+p.key+" ", " "+c.key+" ") || strings.Contains(" "+c.key+" ", " "+p.key+" ") {
			return true
		}
	}
	return false
}

// tokenize splits text into words, marking where phrases must break. URLs,
// Markdown link targets, @mentions and domain names produce no tokens.
func (t *Tagger) tokenize(text string) []token {
	toks := make([]token, 0, len(text)/6)
	brk, sentence := true, true
	for i := 0; i < len(text); {
		if n := skipNoise(text, i); n > 0 {
			i += n
			brk = true
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case isWordRune(r):
			end := wordEnd(text, i)
			word := text[i:end]
			if looksLikeDomain(word) {
				i = end
				brk = true
				continue
			}
			tk := t.newToken(word, i, end)
			tk.breakBefore, tk.sentenceStart = brk, sentence
			toks = append(toks, tk)
			brk, sentence = false, false
			i = end
			continue
		case r == '\n' || r == '\r' || r == '.' || r == '!' || r == '?' || r == '…' || r == ';':
			brk, sentence = true, true
		case unicode.IsSpace(r):
			// words of a phrase are separated by spaces only
		default:
			brk = true // punctuation, quotes, Markdown, emoji, symbols
		}
		i += size
	}
	return toks
}

func (t *Tagger) newToken(word string, start, end int) token {
	folded := foldWord(word)
	tk := token{start: start, end: end, folded: folded, runes: utf8.RuneCountInString(word)}
	first, _ := utf8.DecodeRuneInString(word)
	tk.capitalized = unicode.IsUpper(first)
	letters, upper, digits := 0, 0, 0
	for _, r := range word {
		switch {
		case unicode.IsLetter(r):
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		case unicode.IsDigit(r):
			digits++
		}
	}
	tk.acronym = letters >= 2 && upper == letters || (upper >= 2 && letters >= 2 && tk.capitalized)
	_, isStop := t.stop[folded]
	tk.content = !isStop && letters > 0 && (tk.runes >= 2 || tk.acronym) && !(letters == 1 && digits == 0)
	tk.stem = stem(folded)
	return tk
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordEnd returns the end of the word starting at i: letters and digits,
// joined by a single - ' ’ or . between two word runes ("COVID-19",
// "Node.js", "Яндекс.Маркет"), plus trailing '+' ("C++").
func wordEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWordRune(r) {
			i += size
			continue
		}
		if r == '-' || r == '\'' || r == '’' || r == '.' || r == '‑' {
			next, _ := utf8.DecodeRuneInString(text[i+size:])
			if isWordRune(next) {
				i += size
				continue
			}
		}
		break
	}
	for i < len(text) && text[i] == '+' {
		i++
	}
	return i
}

// skipNoise returns how many bytes at i are a URL, a Markdown link target
// "](...)", or an @mention; 0 when none starts there.
func skipNoise(text string, i int) int {
	c := text[i]
	switch {
	case c == ']' && i+1 < len(text) && text[i+1] == '(':
		if j := strings.IndexByte(text[i:], ')'); j > 0 {
			return j + 1
		}
		return urlLen(text, i)
	case c == '@':
		j := i + 1
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !isWordRune(r) && r != '_' {
				break
			}
			j += size
		}
		if j > i+1 {
			return j - i
		}
	case c == 'h' || c == 'H' || c == 'w' || c == 'W' || c == 't' || c == 'T':
		rest := text[i:]
		if hasPrefixFold(rest, "http://") || hasPrefixFold(rest, "https://") || hasPrefixFold(rest, "www.") || hasPrefixFold(rest, "t.me/") {
			if i > 0 {
				// "https" inside a word is not a URL start.
				prev, _ := utf8.DecodeLastRuneInString(text[:i])
				if isWordRune(prev) {
					return 0
				}
			}
			return urlLen(text, i)
		}
	}
	return 0
}

// urlLen is the length of the URL at i: up to whitespace or a character that
// cannot be in a URL.
func urlLen(text string, i int) int {
	j := i
	for j < len(text) {
		r, size := utf8.DecodeRuneInString(text[j:])
		if unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' || r == '«' || r == '»' || r == ')' || r == '(' || r == '[' || r == ']' {
			break
		}
		j += size
	}
	return j - i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// looksLikeDomain: "habr.com", "naked-science.ru" — a dotted ASCII word
// ending in a short lower-case top-level domain.
func looksLikeDomain(word string) bool {
	dot := strings.LastIndexByte(word, '.')
	if dot <= 0 || dot == len(word)-1 {
		return false
	}
	tld := word[dot+1:]
	if len(tld) < 2 || len(tld) > 6 {
		return false
	}
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			return tld == "рф"
		}
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return false
		}
	}
	return true
}

// foldWord lower-cases and folds ё to е.
func foldWord(w string) string {
	return strings.Map(ai.FoldRune, w)
}

// stem cuts a folded word to at most six runes and then strips trailing
// vowels, й, ь and a Latin plural s, so "Сбер"/"Сбера", "роботы"/"роботов",
// "Китай"/"Китае" share a stem. It is not morphology; it only has to group
// inflected forms well enough to count them together.
func stem(folded string) string {
	rs := []rune(folded)
	if len(rs) > 6 {
		rs = rs[:6]
	}
	for len(rs) > 3 && strings.ContainsRune("аеиоуыэюяйьaeiouys", rs[len(rs)-1]) {
		rs = rs[:len(rs)-1]
	}
	return string(rs)
}

var verbEndings = []string{"ться", "ется", "ются", "ится", "ятся", "лся", "лась", "лись", "лось", "ать", "ять", "ить", "еть", "уть", "ыть", "ала", "ила", "ела", "яла", "али", "или", "ели", "яли", "ало", "ило", "ело", "яло", "ает", "яет", "еет", "ует", "ают", "яют", "еют", "уют"}

// looksLikeVerb: Russian infinitives, past and present forms. Verbs such as
// "нашли" or "рассказала" carry little meaning as tags.
func looksLikeVerb(folded string) bool {
	if utf8.RuneCountInString(folded) < 5 {
		return false
	}
	for _, e := range verbEndings {
		if strings.HasSuffix(folded, e) {
			return true
		}
	}
	return false
}

var adjectiveEndings = []string{"ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ых", "их", "ую", "юю", "ыми", "ими"}

// looksLikeAdjective: Russian adjective and participle endings.
func looksLikeAdjective(folded string) bool {
	if utf8.RuneCountInString(folded) < 5 {
		return false
	}
	for _, e := range adjectiveEndings {
		if strings.HasSuffix(folded, e) {
			return true
		}
	}
	return false
}
