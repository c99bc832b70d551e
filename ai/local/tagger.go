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
	"log/slog"
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
const TaggerModel = "keyphrase-v5"

// maxPhraseWords is the longest tag the tagger proposes (spec: 1–3 words).
const maxPhraseWords = 3

// Boilerplate weighting: a channel's statistics count once it has this many
// posts; a word in a larger share of them than boilerplateFrom is weighted
// down linearly, and one in boilerplateFull or more of them is never a tag
// (a channel's signature; a channel's main topic, «Go» in a Go channel, is
// in about half of its posts and stays a tag).
const (
	boilerplateMinDocs = 20
	boilerplateFrom    = 0.4
	boilerplateFull    = 0.7
)

var _ ai.Tagger = (*Tagger)(nil)

// Tagger picks key phrases from the text itself: stop words, verbs,
// participles, adverbs, numbers, punctuation, line breaks, URLs and
// Markdown split the text into runs of content words. Consecutive
// capitalised words form one name, proposed whole and never split, and a
// lower-case word glued in front of a name is not made part of it. Every
// other 1–3-word window of a run is a candidate too; a phrase's inflected
// forms count together. Candidates are scored YAKE-style from the frequency
// of their words (counted by a crude stem, so Russian inflections add up),
// their first position (titles come first in posts), their casing (names
// and acronyms), for common words their rarity in a background news corpus
// (background_df.txt: «год», «ходе» weigh less), and, with channel
// statistics on, the share of the channel's posts holding them (a channel's
// signature and recurring subheads are weighted down). A single word is
// reported as a name when the stem has a name form («России», not
// «российских» or «россиян»), in its base form when the text allows: the
// nominative when it occurs too, or the bare stem where it is a prefix of
// the inflected word («Иран» in «из Ирана»); a stem seen only as an
// adjective is weighted down. The best 30 candidates by that score are
// then ordered again by a small learned model (rank.go): the score and the
// phrase's keyphraseness, how often editors picked it in the tuning parts
// of two outlets' keyword sets.
// Candidates are always spans of the text, so they pass ai.ValidateTags by
// construction. A Tagger is safe for concurrent use.
type Tagger struct {
	stop map[string]struct{}
	// df is the shared document-frequency table (Redis in the daemon); mem
	// the in-process one, used without df and whenever df fails.
	df     DocFreq
	mem    *MemoryDocFreq
	logger *slog.Logger
	// noStats turns the boilerplate weighting off: tags then depend on the
	// post alone, not on the channel's history (reproducible runs).
	noStats bool
	// kp and weights are the learned ranking (rank.go): nil for the
	// embedded ones; the fitting test sets others.
	kp      *keyphraseness
	weights *[numFeatures]float64
}

// Option adjusts a Tagger.
type Option func(*Tagger)

// WithDocFreq keeps the per-channel document frequencies in df (a
// RedisDocFreq in the daemon) instead of in the process.
func WithDocFreq(df DocFreq) Option { return func(t *Tagger) { t.df = df } }

// WithoutChannelStats turns the per-channel boilerplate weighting off, so
// a post's tags depend on its text alone and not on which posts of its
// channel were seen before it (and in which order).
func WithoutChannelStats() Option { return func(t *Tagger) { t.noStats = true } }

// WithLogger sets where a failing DocFreq is reported.
func WithLogger(l *slog.Logger) Option {
	return func(t *Tagger) {
		if l != nil {
			t.logger = l
		}
	}
}

// NewTagger builds the tagger with its embedded Russian and English stop
// words. Without WithDocFreq the per-channel statistics live in the process.
func NewTagger(opts ...Option) *Tagger {
	stop := make(map[string]struct{}, 1024)
	for _, list := range []string{russianStopWords, englishStopWords} {
		for _, w := range strings.Fields(list) {
			stop[foldWord(w)] = struct{}{}
		}
	}
	t := &Tagger{stop: stop, mem: NewMemoryDocFreq(0), logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// ReadsWholeText implements ai.WholeTextReader: the tagger spends no
// tokens, so the max_input_chars cut would only cost it the end of a post.
func (t *Tagger) ReadsWholeText() bool { return true }

// Tag implements ai.Tagger. Raw is a JSON array of phrases. The post counts
// towards req.Channel's document frequencies (none when it is empty).
func (t *Tagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	if err := ctx.Err(); err != nil {
		return ai.TagResponse{}, fmt.Errorf("local tagger: %w", err)
	}
	maxTags := req.MaxTags
	if maxTags <= 0 {
		maxTags = ai.DefaultMaxTags
	}
	phrases := t.extract(ctx, req.Channel, req.Text, maxTags)
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
	content       bool // not a stop word, verb, number; long enough
	capitalized   bool
	acronym       bool
	latin         bool // starts with a Latin letter
	proper        bool // part of a name (set once the stats are known)
}

type wordStat struct {
	tf     int
	first  int
	proper int     // capitalised away from a sentence start, or an acronym
	boiler float64 // channel boilerplate weight, 1 when none
}

type candidate struct {
	key   string // folded words joined by one space; "\x00"+stem for one word
	start int    // byte span of the first occurrence
	end   int
	first int // token index of the first occurrence
	count int
	words int
	stems []string
	score float64
	// forms: token indexes of a one-word candidate's occurrences.
	forms    []int
	wholeRun bool
	rank     int  // a phrase's shown occurrence: sum of nominativeRank
	name     bool // a whole name span
	// feat: the ranking features (rank.go), set for the best rerankTop by
	// score; model: the learned score from them.
	feat  [numFeatures]float64
	model float64
}

// Extract returns up to max key phrases of text, best first, each spelled
// as in the text, distinct ignoring case and ё/е. It keeps no channel
// statistics.
func (t *Tagger) Extract(text string, max int) []string {
	return t.extract(context.Background(), "", text, max)
}

func (t *Tagger) extract(ctx context.Context, channel, text string, max int) []string {
	if max <= 0 {
		return nil
	}
	sc := getScratch()
	defer putScratch(sc)
	toks, order := t.candidatesIn(ctx, sc, channel, text)
	if len(toks) == 0 {
		return []string{}
	}
	t.rerank(order)
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
			} else if containsStems(picked, c) {
				continue
			}
			picked = append(picked, c)
			for _, s := range c.stems {
				usedStems[s] = true
			}
		}
	}
	out := make([]string, 0, len(picked))
	seen := make(map[string]bool, len(picked))
	for _, c := range picked {
		tag := shownTag(text, toks, c)
		if f := ai.FoldTag(tag); !seen[f] {
			seen[f] = true
			out = append(out, tag)
		}
	}
	return out
}

// candidates tokenizes text and returns its tokens and its candidate
// phrases, best first by the hand-set score (keyphrase-v4's), with the
// ranking features of the best rerankTop computed.
func (t *Tagger) candidates(ctx context.Context, channel, text string) ([]token, []*candidate) {
	return t.candidatesIn(ctx, new(scratch), channel, text)
}

// candidatesIn is candidates with its working memory in sc: the tokens
// and candidates it returns live in sc until sc is used again.
func (t *Tagger) candidatesIn(ctx context.Context, sc *scratch, channel, text string) ([]token, []*candidate) {
	sc.reset()
	toks := t.tokenizeInto(sc.toks, text)
	sc.toks = toks
	if len(toks) == 0 {
		return nil, nil
	}
	stats := sc.stats
	terms := sc.terms
	for i := range toks {
		tk := &toks[i]
		if !tk.content {
			continue
		}
		ws := stats[tk.stem]
		if ws == nil {
			ws = sc.newWordStat()
			*ws = wordStat{first: i, boiler: 1}
			stats[tk.stem] = ws
			terms = append(terms, tk.stem)
		}
		ws.tf++
		if tk.acronym || (tk.capitalized && !tk.sentenceStart) {
			ws.proper++
		}
	}
	sc.terms = terms
	if channel != "" && len(terms) > 0 {
		t.weighBoilerplate(ctx, channel, terms, stats)
	}
	for i := range toks {
		tk := &toks[i]
		// A capital at a sentence start makes a name only if the word is
		// capitalised elsewhere too, or if a name follows it at once in
		// the same script («Thorsten Ball, автор…», «Реджеп Эрдоган
		// заявил…»).
		tk.proper = tk.content && (tk.acronym || (tk.capitalized && (!tk.sentenceStart || stats[tk.stem].proper > 0)))
		if !tk.proper && tk.content && tk.capitalized && i+1 < len(toks) {
			next := &toks[i+1]
			tk.proper = !next.breakBefore && next.content && next.capitalized && !next.acronym && next.latin == tk.latin
		}
	}
	bg := loadBackground()
	wordScore := func(tk *token) float64 {
		ws := stats[tk.stem]
		s := 1 + math.Log(float64(ws.tf))
		if ws.proper > 0 {
			s *= 2
		}
		if tk.acronym {
			s *= 1.3
		}
		s *= 1 + 1/(1+float64(ws.first)/15)
		if tk.runes < 3 && !tk.acronym && ws.proper == 0 {
			s *= 0.5
		}
		if ws.proper == 0 {
			// A common word of the news («год», «время», «ходе») is
			// rarely a keyword. Names keep their weight: «Россия» and
			// «США» are in many posts and are the editors' tags.
			s *= math.Sqrt(bg.idf(tk.stem) / bg.maxIDF)
		}
		return s * ws.boiler
	}
	// linked reports whether toks[j] continues the name of toks[j-1]: both
	// name words, nothing between them, not a Cyrillic acronym next to a
	// spelled-out word («США Джо Байден» is two names; «T-Bank AI
	// Research» is one), nor Latin next to Cyrillic («Москве Mechazilla»).
	linked := func(j int) bool {
		return j > 0 && j < len(toks) && !toks[j].breakBefore && toks[j-1].proper && toks[j].proper &&
			toks[j-1].latin == toks[j].latin && (toks[j].latin || toks[j-1].acronym == toks[j].acronym)
	}

	cands := sc.cands
	order := sc.order
	key := sc.key
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
				end := i + n // exclusive
				// Never split a name (unless it is too long to be a tag).
				spanStart, spanEnd := i, end
				for spanStart > runStart && linked(spanStart) {
					spanStart--
				}
				for spanEnd < runEnd && linked(spanEnd) {
					spanEnd++
				}
				nameSpan := spanEnd-spanStart <= maxPhraseWords
				if nameSpan && ((linked(i) && i > runStart) || (linked(end) && end < runEnd)) {
					continue
				}
				// No lower-case word glued in front of a name, and no two
				// names in one tag.
				glued := false
				for j := i + 1; j < end; j++ {
					if toks[j].proper && (!toks[j-1].proper || !linked(j)) {
						glued = true
						break
					}
				}
				// A name is followed by lower-case words in a tag only when
				// it is an adjective of them («Курской области»,
				// «Тибетском плато»), not «Яна Гагина груз».
				for j := i + 1; j < end && !glued; j++ {
					if toks[j-1].proper && !toks[j].proper && !looksLikeAdjective(toks[j-1].folded) {
						glued = true
					}
				}
				if glued {
					continue
				}
				// A phrase is keyed by the stems of its Cyrillic words, so
				// «Центральный банк» and «Центрального банка» count
				// together; other words as written, so «пакете
				// math/rand/v2» does not add up with «Пакет math/rand/v2»
				// and outrank the name itself.
				key = key[:0]
				if n == 1 {
					key = append(append(key, 0), toks[i].stem...)
				} else {
					for j := i; j < end; j++ {
						if j > i {
							key = append(key, ' ')
						}
						if cyrillicWord(toks[j].folded) {
							key = append(key, toks[j].stem...)
						} else {
							key = append(key, toks[j].folded...)
						}
					}
				}
				c := cands[string(key)] // no string is made for the look-up
				if c == nil {
					k := string(key)
					c = sc.newCandidate()
					c.key, c.start, c.end, c.first, c.words = k, toks[i].start, toks[end-1].end, i, n
					for j := i; j < end; j++ {
						c.stems = append(c.stems, toks[j].stem)
					}
					cands[k] = c
					order = append(order, c)
				}
				c.count++
				if n == 1 {
					c.forms = append(c.forms, i)
				} else {
					// Show the most nominative-looking occurrence.
					r := 0
					for j := i; j < end; j++ {
						r += nominativeRank(toks[j].folded)
					}
					if c.count == 1 || r < c.rank {
						c.rank, c.start, c.end = r, toks[i].start, toks[end-1].end
					}
				}
				if n == runLen {
					c.wholeRun = true
				}
				if toks[i].proper && i == spanStart && end == spanEnd {
					c.name = true
				}
				// Score from the first occurrence (the same words each
				// time, but an occurrence may be a name only elsewhere).
				if c.count == 1 {
					sum := 0.0
					for j := i; j < end; j++ {
						sum += wordScore(&toks[j])
					}
					// The mean of the words' scores, with no bonus for
					// length: editors' keywords are mostly one word, and
					// a phrase earns its place by its words.
					c.score = sum / float64(n)
					if last := &toks[end-1]; n > 1 && looksLikeAdjective(last.folded) && !last.capitalized {
						// "кратер необычной": adjectives make poor tags
						// unless a noun follows. (A lone adjective: below,
						// once all its forms are known.)
						c.score *= 0.6
					}
				}
			}
		}
		runStart = runEnd
	}
	sc.order, sc.key = order, key
	for _, c := range order {
		if c.words == 1 && namedAsOutlet(toks, c.forms) {
			// «в беседе с RT», «рассказал НГ»: the medium a source
			// spoke to, most often the post's own outlet.
			c.score *= 0.2
		}
		if c.words == 1 && allAdjectives(toks, c.forms) {
			// «ударный», «российских»: a lone adjective is rarely a
			// keyword. A stem with a noun form too («России» beside
			// «российских») is shown as the noun.
			c.score *= 0.6 * 0.7
		}
		if c.count > 1 {
			c.score *= 1 + 0.5*math.Log(float64(c.count))
		}
		if c.wholeRun && c.words > 1 {
			c.score *= 1.1
		}
		if c.name && c.words > 1 {
			c.score *= 1.3
		}
		if c.score <= 0 || c.end-c.start > 0 && utf8.RuneCountInString(text[c.start:c.end]) > ai.MaxTagChars {
			c.score = -1
		}
	}
	t.features(order)
	return toks, order
}

// shownTag is how a candidate is written as a tag: a one-word tag in its
// base form, a phrase as its most nominative occurrence, spaces collapsed.
func shownTag(text string, toks []token, c *candidate) string {
	if c.words == 1 {
		return baseForm(text, toks, c.forms)
	}
	return strings.Join(strings.Fields(text[c.start:c.end]), " ")
}

// weighBoilerplate records the post's terms in channel's document
// frequencies and sets each term's boilerplate weight from the share of the
// channel's posts that hold it.
func (t *Tagger) weighBoilerplate(ctx context.Context, channel string, terms []string, stats map[string]*wordStat) {
	if t.noStats {
		return
	}
	slices.Sort(terms)
	var shares []float64
	var docs int
	var err error
	if t.df != nil {
		shares, docs, err = t.df.Observe(ctx, channel, terms)
		if err != nil {
			t.logger.WarnContext(ctx, "local tagger: channel statistics unavailable, using the in-process table", "channel", channel, "err", err)
		}
	}
	if t.df == nil || err != nil {
		shares, docs, _ = t.mem.Observe(ctx, channel, terms)
	}
	if docs < boilerplateMinDocs {
		return
	}
	for i, term := range terms {
		stats[term].boiler = boilerplateWeight(shares[i])
	}
}

// boilerplateWeight maps the share of a channel's posts holding a word to
// its weight: 1 up to boilerplateFrom, falling linearly to 0 at
// boilerplateFull.
func boilerplateWeight(share float64) float64 {
	switch {
	case share <= boilerplateFrom:
		return 1
	case share >= boilerplateFull:
		return 0
	}
	return 1 - (share-boilerplateFrom)/(boilerplateFull-boilerplateFrom)
}

// containsStems reports whether c's stems are a contiguous part of a picked
// phrase's or the other way round ("кратер" after "ударный кратер").
func containsStems(picked []*candidate, c *candidate) bool {
	for _, p := range picked {
		if subStems(p.stems, c.stems) || subStems(c.stems, p.stems) {
			return true
		}
	}
	return false
}

func subStems(long, short []string) bool {
	for i := 0; i+len(short) <= len(long); i++ {
		if slices.Equal(long[i:i+len(short)], short) {
			return true
		}
	}
	return false
}

// genitivePrepositions govern the genitive: a capitalised word ending in -а
// after one of them is a masculine noun's genitive («из Ирана»), not a
// feminine nominative («Москва»).
var genitivePrepositions = map[string]bool{
	"из": true, "от": true, "до": true, "у": true, "для": true, "без": true, "около": true,
	"против": true, "после": true, "вокруг": true, "среди": true, "возле": true, "кроме": true,
}

// baseForm picks how a one-word tag is written, among the occurrences
// (token indexes) of its stem: a form the others start with («Иран» among
// «Иран», «Ирана», «Ираном»), else the most nominative-looking form, else
// the bare stem where the text shows it is a prefix of a masculine oblique
// form («Иран» of «из Ирана», «Байден» of «Байденом»). Every choice is a
// span or the prefix of a span of the text.
func baseForm(text string, toks []token, forms []int) string {
	forms = nameForms(toks, forms)
	best := forms[0]
	for _, i := range forms[1:] {
		if toks[i].folded == toks[best].folded {
			continue
		}
		if formRank(&toks[i]) < formRank(&toks[best]) ||
			(strings.HasPrefix(toks[best].folded, toks[i].folded)) {
			best = i
		}
	}
	tk := toks[best]
	word := text[tk.start:tk.end]
	if nominativeRank(tk.folded) == 0 || !tk.capitalized || tk.acronym {
		return word
	}
	// Strip a masculine oblique ending when the text tells it apart from
	// a feminine nominative.
	for _, i := range forms {
		f := toks[i].folded
		if !toks[i].capitalized || looksLikeAdjective(f) || toks[i].sentenceStart && adjectiveForm(f) {
			// «российском» shares the stem of «России»: an adjective's
			// ending is not a masculine noun's.
			continue
		}
		var cut int
		switch {
		case strings.HasSuffix(f, "ом") || strings.HasSuffix(f, "ем"):
			cut = len("ом")
		case strings.HasSuffix(f, "а") && i > 0 && !toks[i].breakBefore && genitivePrepositions[toks[i-1].folded]:
			cut = len("а")
		default:
			continue
		}
		base := toks[i].folded[:len(f)-cut]
		if utf8.RuneCountInString(base) < 4 || !endsInConsonant(base) {
			continue
		}
		return text[toks[i].start : toks[i].end-cut]
	}
	return word
}

// nameForms narrows the occurrences of a one-word candidate to its name
// forms when it has some: «России», not «россиян» or «российских» of the
// same crude stem. A capital at a sentence start counts when the word is
// the same one as a capitalised occurrence elsewhere («Москва. … в
// Москве»), not when it is another word of the stem («Россияне. … из
// России»).
func nameForms(toks []token, forms []int) []int {
	var mid, start []int
	for _, i := range forms {
		switch {
		case !toks[i].capitalized:
		case toks[i].sentenceStart && !toks[i].acronym:
			start = append(start, i)
		default:
			mid = append(mid, i)
		}
	}
	if len(mid) == 0 {
		if len(start) == 0 || len(start) == len(forms) {
			return forms
		}
		return start
	}
	out := mid
	for _, i := range start {
		for _, j := range mid {
			if caseStem(toks[i].folded) == caseStem(toks[j].folded) {
				out = append(out, i)
				break
			}
		}
	}
	if len(out) == len(forms) {
		return forms // keep the text order
	}
	slices.Sort(out)
	return out
}

// caseEndings are the noun case endings caseStem strips, longest first.
var caseEndings = []string{"ами", "ями", "ией", "иях", "ах", "ях", "ов", "ев", "ей", "ой", "ом", "ем", "ам", "ям", "ия", "ии", "ию", "а", "я", "о", "е", "ы", "и", "у", "ю", "ь", "й"}

// caseStem strips one noun case ending, leaving at least three runes: the
// forms of one noun share it («Москва», «Москве»), a derived word does not
// («России», «Россияне»).
func caseStem(folded string) string {
	n := utf8.RuneCountInString(folded)
	for _, e := range caseEndings {
		if strings.HasSuffix(folded, e) && n-utf8.RuneCountInString(e) >= 3 {
			return folded[:len(folded)-len(e)]
		}
	}
	return folded
}

// formRank orders the forms of a one-word tag: nominative-looking before
// oblique, and a lower-case adjective last, whatever its case: the stem
// groups «России» and «российских», and editors name the country.
func formRank(tk *token) int {
	r := nominativeRank(tk.folded)
	if (!tk.capitalized || tk.sentenceStart) && adjectiveForm(tk.folded) {
		r += 3
	}
	return r
}

// nominativeRank: 0 for a word ending in a consonant (a masculine
// nominative), 1 for the nominative endings -а/-я/-ия/-ь/-й/-о, 2 for the
// rest (oblique cases).
func nominativeRank(folded string) int {
	r, _ := utf8.DecodeLastRuneInString(folded)
	switch {
	case endsInConsonant(folded):
		return 0
	case r == 'а' || r == 'я' || r == 'ь' || r == 'й' || r == 'о':
		return 1
	case r < utf8.RuneSelf:
		return 0 // Latin, digits: no case endings
	}
	return 2
}

func endsInConsonant(folded string) bool {
	r, _ := utf8.DecodeLastRuneInString(folded)
	return r >= 'а' && r <= 'я' && !strings.ContainsRune("аеиоуыэюяйь", r)
}

// tokenize splits text into words, marking where phrases must break. URLs,
// Markdown link targets, @mentions and domain names produce no tokens.
func (t *Tagger) tokenize(text string) []token {
	return t.tokenizeInto(make([]token, 0, len(text)/6), text)
}

// tokenizeInto is tokenize appending to toks[:0].
func (t *Tagger) tokenizeInto(toks []token, text string) []token {
	toks = toks[:0]
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
			tk := t.newToken(word, i, end, sentence)
			tk.breakBefore = brk
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

func (t *Tagger) newToken(word string, start, end int, sentenceStart bool) token {
	folded := foldWord(word)
	tk := token{start: start, end: end, folded: folded, runes: utf8.RuneCountInString(word), sentenceStart: sentenceStart}
	first, _ := utf8.DecodeRuneInString(word)
	tk.capitalized = unicode.IsUpper(first)
	tk.latin = first < utf8.RuneSelf && unicode.IsLetter(first)
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
	tk.content = !isStop && letters > 0 && (tk.runes >= 3 || tk.acronym || tk.capitalized && tk.runes == 2) && !(letters == 1 && digits == 0)
	if tk.content && digits > 0 && unicode.IsDigit(first) && !tk.acronym {
		// "11-й", "38-летний", "2-го": numbers and dates are not tags.
		tk.content = false
	}
	// Verbs, participles and adverbs carry little meaning as tags and end
	// a phrase. A capital away from a sentence start is a name («Михаил»).
	if tk.content && !tk.acronym && (!tk.capitalized || tk.sentenceStart) && notNounLike(folded) {
		tk.content = false
	}
	tk.stem = stem(folded)
	return tk
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordEnd returns the end of the word starting at i: letters and digits,
// joined by a single - ' ’ . or / between two word runes ("COVID-19",
// "Node.js", "Яндекс.Маркет", "HTTP/2", "math/rand"), plus trailing '+'
// ("C++").
func wordEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWordRune(r) {
			i += size
			continue
		}
		if r == '-' || r == '\'' || r == '’' || r == '.' || r == '‑' || r == '/' {
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
	case c == '`' && strings.HasPrefix(text[i:], "```"):
		// A fenced code block: identifiers, not topics.
		if j := strings.Index(text[i+3:], "```"); j >= 0 {
			return j + 6
		}
		return len(text) - i
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

// looksLikeDomain: "habr.com", "naked-science.ru", "bit.ly/x" — a dotted
// ASCII word ending in a short lower-case top-level domain, maybe with a
// path.
func looksLikeDomain(word string) bool {
	if slash := strings.IndexByte(word, '/'); slash > 0 {
		word = word[:slash] // "bit.ly/bbcrussian": a link without a scheme
	}
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

// cyrillicWord: a folded word of Cyrillic letters only (no digits, no
// joiners): its inflections may be counted together.
func cyrillicWord(folded string) bool {
	for _, r := range folded {
		if r < 'а' || r > 'я' {
			return false
		}
	}
	return folded != ""
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
	// The stem is a prefix of folded (its first six runes, less trailing
	// vowels down to three), so it is a substring, not a new string.
	// folded is valid UTF-8 (strings.Map writes no invalid sequence).
	var rs [6]rune
	var ends [7]int // ends[k]: the byte length of the first k runes
	n := 0
	for i, r := range folded {
		if n == len(rs) {
			break
		}
		rs[n] = r
		n++
		ends[n] = i + utf8.RuneLen(r)
	}
	for n > 3 && strings.ContainsRune("аеиоуыэюяйьaeiouys", rs[n-1]) {
		n--
	}
	return folded[:ends[n]]
}

// Verb, participle and adverb endings (folded). Russian verbs: infinitive,
// present and past in every gender and number, reflexive -ся/-сь,
// imperative -йте; participles (-вший, -ющий, -ящий, -ащий, -емый, -имый,
// -ованный and their case forms); short passive participles (-ано, -ено,
// -ован…); adverbs in -но/-ски. Each list is checked only on words of at
// least minVerbRunes runes, and nounExceptions lists the common nouns that
// share an ending.
var (
	verbEndings = []string{
		// infinitive
		"ать", "ять", "ить", "еть", "уть", "ыть", "оть", "чь", "ти",
		// past
		"шли", "шла", "шло", "гли", "гла", "гло", "кли", "кла", "кло",
		"ал", "ял", "ил", "ел", "ыл", "ул", "ла", "ли", "ло",
		// present / future
		"ает", "яет", "еет", "ует", "ают", "яют", "еют", "уют", "ит", "ят", "ишь", "ешь",
		"жат", "чат", "шат", "щат", "ут", "ют",
		// reflexive
		"ся", "сь",
		// imperative
		"йте", "ите",
		// gerunds
		"вшись", "ив", "ав", "яв",
	}
	participleStems = []string{"вш", "ющ", "ящ", "ащ", "ем", "им", "ованн", "ованн", "ирован"}
	adjEndings      = []string{"ий", "ый", "ая", "яя", "ое", "ее", "ие", "ые", "ого", "его", "ому", "ему", "ым", "им", "ых", "их", "ую", "юю", "ой", "ей", "ыми", "ими"}
	shortParticiple = []string{"ано", "ено", "ато", "ято", "ована", "овано", "ованы", "ован", "ирован", "ена", "ены"}
	adverbEndings   = []string{"но", "ски", "чно", "ьно"}
	nounExceptions  = map[string]bool{}
)

const minVerbRunes = 5

func init() {
	for _, w := range strings.Fields(nounExceptionList) {
		nounExceptions[w] = true
	}
}

// nounExceptionList: nouns (and names at a sentence start) whose ending
// looks like a verb's, participle's or adverb's.
const nounExceptionList = `
канал сигнал сериал финал журнал материал капитал персонал арсенал идеал минерал
терминал портал генерал адмирал интервал потенциал оригинал радикал квартал скандал
вокзал бокал штурвал подвал провал обвал перевал карнавал пьедестал интеграл трибунал
криминал мемориал номинал кардинал маргинал крахмал феодал принципал фестиваль
отдел раздел предел пробел котел орел пепел
крокодил михаил даниил гавриил кирилл
институт маршрут атрибут минут валют приют салют абсолют парашют
кредит лимит визит транзит бандит аппетит гранит элит орбит защит
результат депутат кандидат автомат климат аппарат адресат агрегат сенат формат
архив актив позитив коллектив детектив объектив мотив креатив локомотив негатив
примитив нарратив императив дефектив
состав устав сплав рукав ярослав вячеслав станислав владислав мстислав святослав
смесь помесь лосось
вино кино окно зерно пятно волокно полотно сукно бревно
цена сцена арена замена измена смена вена антенна гиена
цены сцены стены арены
время бремя семя имя племя знамя пламя стремя
ремя система проблема схема тема дилемма
модели недели отели школа школы правила правило могила пчела стрела дела тела
села крыла мыло масла акула формула формулы дети сети пути кости ученые ученых
ученым стали начало караул дефицит депозит алфавит метеорит гепатит реквизит
паразит монолит батут редут ребят котят
`

// notNounLike reports a word that looks like a verb, participle or adverb.
func notNounLike(folded string) bool {
	n := utf8.RuneCountInString(folded)
	if n < minVerbRunes || nounExceptions[folded] {
		return false
	}
	r, _ := utf8.DecodeRuneInString(folded)
	if r < 'а' || r > 'я' {
		return false // not Cyrillic
	}
	for _, e := range verbEndings {
		if strings.HasSuffix(folded, e) {
			return !falseVerb(folded, e)
		}
	}
	for _, e := range shortParticiple {
		if strings.HasSuffix(folded, e) && n >= 7 {
			return true
		}
	}
	for _, a := range adjEndings {
		if !strings.HasSuffix(folded, a) {
			continue
		}
		stem := folded[:len(folded)-len(a)]
		for _, p := range participleStems {
			if strings.HasSuffix(stem, p) && utf8.RuneCountInString(stem) >= 4 {
				return true
			}
		}
	}
	for _, e := range adverbEndings {
		if strings.HasSuffix(folded, e) && n >= 6 {
			return true
		}
	}
	return false
}

// falseVerb: endings that are also common noun or adjective endings, told
// apart by what precedes them.
func falseVerb(folded, ending string) bool {
	before := folded[:len(folded)-len(ending)]
	last, _ := utf8.DecodeLastRuneInString(before)
	switch ending {
	case "ли":
		// "модели", "сети": only -али/-яли/-или/-ели/-ыли/-ули/-оли.
		return !strings.ContainsRune("аяиеыуо", last)
	case "ла", "ло":
		return !strings.ContainsRune("аяиеыуо", last)
	case "ти":
		// "сети", "пути": infinitives are -сти/-зти/-чти or after a vowel.
		return !strings.ContainsRune("сзаяиеоу", last)
	case "ит", "ут", "ят":
		// "кредит", "институт": present forms follow a consonant
		// (говорит, ведут, стоят); nouns most often -ит after a vowel/т.
		return strings.ContainsRune("аеиоуыэюя", last) && ending != "ят"
	case "ите":
		// "орбите", "защите": nouns in the prepositional.
		return true
	case "ив", "ав", "яв":
		// gerunds: only -ив/-ав after a consonant and long enough
		return utf8.RuneCountInString(folded) < 7
	case "ем", "им":
		return true
	}
	return false
}

var adjectiveEndings = []string{"ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ых", "их", "ую", "юю", "ыми", "ими"}

// outletCueAfter: words after which an acronym names the outlet a source
// talked to («в интервью RT», «в эфире CNN», «документ, с которым
// ознакомился РБК»), not a topic of the post.
var outletCueAfter = map[string]bool{
	"интервью": true, "эфире": true, "распоряжении": true, "комментарии": true,
	"ознакомился": true, "ознакомилась": true, "ознакомилось": true, "ознакомились": true,
	"заявил": true, "заявила": true, "рассказал": true, "рассказала": true, "пояснил": true,
	"пояснила": true, "сказал": true, "сказала": true, "сообщил": true, "сообщила": true,
	"прокомментировал": true, "прокомментировала": true, "объяснил": true, "объяснила": true,
	"отметил": true, "отметила": true, "добавил": true, "добавила": true, "уточнил": true,
	"уточнила": true, "признался": true, "призналась": true,
}

// outletCueWith: «в беседе с RT», «в разговоре с НГ».
var outletCueWith = map[string]bool{"беседе": true, "разговоре": true}

// namedAsOutlet reports whether a one-word candidate is an acronym that
// the post names, at least once, in an outlet's place: the medium a source
// spoke to (the post's own outlet, most often). Elsewhere in the post it
// is the same outlet («главный редактор RT»).
func namedAsOutlet(toks []token, forms []int) bool {
	for _, i := range forms {
		tk := &toks[i]
		if !tk.acronym || tk.sentenceStart || i == 0 {
			continue
		}
		prev := toks[i-1].folded
		if outletCueAfter[prev] || prev == "с" && i >= 2 && outletCueWith[toks[i-2].folded] {
			return true
		}
	}
	return false
}

// allAdjectives reports whether every occurrence of a one-word candidate
// looks like an adjective.
func allAdjectives(toks []token, forms []int) bool {
	for _, i := range forms {
		if !adjectiveForm(toks[i].folded) {
			return false
		}
	}
	return true
}

// adjectiveForm: looksLikeAdjective, and the masculine/neuter
// prepositional -ском/-цком («российском»), which a noun's instrumental
// -ом shares in general but not after -ск-/-цк-.
func adjectiveForm(folded string) bool {
	if (strings.HasSuffix(folded, "ском") || strings.HasSuffix(folded, "цком")) && utf8.RuneCountInString(folded) >= 6 {
		return true
	}
	return looksLikeAdjective(folded)
}

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
