// This file keeps a verbatim copy of keyphrase-v1, the local tagger as it
// was before the boundary, base-form, filtering and boilerplate work, so the
// gold-set test and the benchmark compare old and new in the same run. It is
// test code only.
package local_test

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

// oldProviderName is the provider label of the local tagger and embedder.
const oldProviderName = "local"

// oldTaggerModel names the key-phrase algorithm; bump it when scoring changes,
// since it is stored with every tag set.
const oldTaggerModel = "keyphrase-v1"

// maxPhraseWords is the longest tag the tagger proposes (spec: 1–3 words).
const maxPhraseWords = 3

// oldTagger picks key phrases from the text itself, RAKE-style: stop words,
// punctuation, line breaks, URLs and Markdown split the text into runs of
// content words; every 1–3-word window of a run is a candidate phrase,
// scored YAKE-style from the frequency of its words (counted by a crude
// stem, so Russian inflections add up), their first position (titles come
// first in posts) and their casing (names and acronyms). Candidates are
// always exact spans of the text, so they pass ai.ValidateTags by
// construction. A oldTagger is immutable and safe for concurrent use.
type oldTagger struct {
	stop map[string]struct{}
}

// newOldTagger builds the tagger with its embedded Russian and English stop
// words.
func newOldTagger() *oldTagger {
	stop := make(map[string]struct{}, 1024)
	for _, list := range []string{oldRussianStopWords, oldEnglishStopWords} {
		for _, w := range strings.Fields(list) {
			stop[foldWord(w)] = struct{}{}
		}
	}
	return &oldTagger{stop: stop}
}

var _ ai.Tagger = (*oldTagger)(nil)

// Tag implements ai.Tagger. Raw is a JSON array of phrases.
func (t *oldTagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
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
		Provider: oldProviderName,
		Model:    oldTaggerModel,
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
func (t *oldTagger) Extract(text string, max int) []string {
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
func (t *oldTagger) tokenize(text string) []token {
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

func (t *oldTagger) newToken(word string, start, end int) token {
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

// The stop-word lists are written out here rather than loaded, so the tagger
// needs no files. Besides function words they hold news and Telegram
// boilerplate ("подписаться", "читать", "источник") that would otherwise
// come out as tags. Words are lower-case with ё folded to е.

const oldRussianStopWords = `
а абсолютно авось ага ах ахах без безо более больше будем будет будете будешь
буду будто будут будучи бы был была были было быть в вам вами вас ваш ваша ваше
ваши вдоль вдруг ведь весь вместе вместо вне вниз внизу во вновь вокруг вон вообще
вопреки вот впрочем все всего всегда всей всем всеми всему всех всею всю вся всякий
всякая всякое всякие всё вы где гм да давай давайте даже два две для до довольно
другая другие другим другими других другое другой его ее ей ему если есть еще ж же
за затем зато зачем здесь и из или им ими иногда их к каждая каждое каждые каждый
кажется как какая какие каким какими каких какого какое какой каком какую когда
кого кое который которая которое которые которой которого котором которую которых
которым которыми кроме кто куда ли либо лишь между меня мне много многие многих мной
мною мог могла могли могло может можно мой моя мое мои мои мы на над надо назад наиболее
наконец нам нами нас наш наша наше наши не него нее ней нельзя нем немного нему нет
ни нибудь нигде никак никогда никто ним ними ничего ничто но ну нужно о об обо однако
около он она они оно опять от очень по под подо пока после потом потому почему почти
при про просто пусть раз разве с сам сама сами само самой самом самого самый сверху
свое своего своей свои своим своих свою себе себя сейчас сказал сказала сказали
сквозь словно со совсем так также такая такие таким такими таких такого такое такой
там тебе тебя тем теми теперь то тобой тобою тогда того тоже той только том тому
тот ту тут ты у уж уже хорошо хоть хотя чего чей чем через что чтобы чье чья эта
эти этим этими этих это этого этой этом этому этот эту я ибо ничем нечто нечего
всегда иначе сразу снова туда сюда оттуда отсюда здесь везде всюду ещё поэтому
итак зато причем притом причём итого кстати например значит вроде типа около
свыше менее более ранее позже выше ниже среди ради благодаря согласно против
насчет насчёт вследствие ввиду вокруг мимо поверх сквозь внутри снаружи
один одна одно одни одного одной одному одним одними одних первый первая первое
три четыре пять шесть семь восемь девять десять сто тысяча тысячи тысяч миллион
миллиона миллионов млн млрд тыс руб рублей рубля доллар долларов
год года году годом годы лет раз раза час часа часов день дня дней неделе неделю
месяц месяца месяцев сегодня вчера завтра сейчас теперь недавно скоро уже пока
ранее время времени момент
также тоже еще однако поэтому потому следует является являются являлся стал стала
стало стали станет станут будет бывает был была было были есть нет
заявил заявила заявили сообщил сообщила сообщили рассказал рассказала рассказали
отметил отметила отметили сообщает сообщают пишет пишут считает считают говорит
говорят добавил добавила уточнил уточнила подчеркнул подчеркнула объяснил объяснила
может могут можем могу мочь хочет хотят хотим хочу нужно надо должен должна должно
должны нужен нужна нужны сможет смогут смог смогла
новости новость новостей подписаться подписывайтесь подпишись подписка читать
читайте читать читайте смотреть смотрите источник источники подробнее подробности
ссылка ссылке ссылку реклама erid канал канала канале каналу наш наша наши нашем
нашего нашей вот здесь тут кто-то что-то где-то как-то какой-то какая-то какие-то
чем-то кого-то кому-то почему-то зачем-то когда-то
очень самый самая самое самые весьма слишком чуть едва лишь именно как бы ли
если ну ох эх ой ага угу да нет
`

const oldEnglishStopWords = `
a about above after again against ago all almost along already also although always
am among an and another any anybody anyone anything anyway anywhere are aren't
around as at away back be became because become becomes been before behind being
below beside besides between beyond both but by can can't cannot could couldn't
did didn't do does doesn't doing don't done down during each either else enough
etc even ever every everyone everything everywhere except few first for from
further get gets getting give given go goes going gone got had hadn't has hasn't
have haven't having he he'd he'll he's her here here's hers herself him himself
his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself
just last least less let let's like likely made make makes making many may maybe
me might more most mostly much must mustn't my myself near need needs neither never
new next no nobody none nor not nothing now nowhere of off often oh ok okay on once
one only onto or other others otherwise ought our ours ourselves out over own
per perhaps please quite rather really said same say says see seem seemed seems
several shall shan't she she'd she'll she's should shouldn't since so some somebody
someone something sometimes somewhere soon still such than that that's the their
theirs them themselves then there there's these they they'd they'll they're
they've thing things this those though three through throughout thus to today
together too toward towards two under until up upon us use used uses using very
via want wants was wasn't way we we'd we'll we're we've well were weren't what
what's whatever when when's where where's whether which while who who's whoever
whole whom whose why why's will with within without won't would wouldn't yes yet
you you'd you'll you're you've your yours yourself yourselves
read more click here link subscribe follow join source via new news today post
video photo www http https com html
`
