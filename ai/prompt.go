package ai

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PromptVersion names the wording of the tagging prompt. It is stored with
// every tag set (prompt_version), so change it whenever the prompt changes.
const PromptVersion = "tags-v1"

// DefaultMaxTags is the spec's tag.max_tags default, used when a caller
// passes a non-positive limit.
const DefaultMaxTags = 5

// BuildTagPrompt returns the strict Russian tagging prompt (spec section 6)
// as a system message (the rules) and a user message (the post text).
// GigaChat accepts a single system message and only in the first position,
// so the rules go into exactly one system message.
//
// The text is concatenated verbatim, never passed through a format verb, so
// "%", times such as 19:00, emoji, #hashtags and @mentions reach the model
// exactly as they are in the post.
func BuildTagPrompt(text string, maxTags int) (system, user string) {
	if maxTags <= 0 {
		maxTags = DefaultMaxTags
	}
	minTags := 3
	if maxTags < minTags {
		minTags = maxTags
	}
	count := strconv.Itoa(minTags) + "–" + strconv.Itoa(maxTags)
	if minTags == maxTags {
		count = strconv.Itoa(maxTags)
	}
	var b strings.Builder
	b.Grow(1200)
	b.WriteString("Ты — строгая система тегирования постов из Telegram-каналов.\n")
	b.WriteString("Найди в тексте поста ")
	b.WriteString(count)
	b.WriteString(" ключевых слов или коротких фраз (от 1 до 3 слов), которые лучше всего описывают его содержание.\n")
	b.WriteString("Правила:\n")
	b.WriteString("1. Каждый тег взят из текста дословно: слово или фраза должны встречаться в тексте именно в таком написании. Не придумывай слов, которых нет в тексте, не переводи их и не меняй их форму.\n")
	b.WriteString("2. Не используй общие категории (например, «новости», «технологии», «общество»): только конкретные имена, названия, термины и понятия из текста.\n")
	b.WriteString("3. Каждый тег — от 1 до 3 слов.\n")
	b.WriteString("4. Ответь только JSON-массивом строк, например: [\"Сбер\", \"GigaChat\", \"искусственный интеллект\"]. Без Markdown, без ```, без пояснений и без другого текста.\n")
	b.WriteString("5. Если подходящих слов нет, ответь пустым массивом: []\n")
	system = b.String()
	user = "Текст поста:\n" + text
	return system, user
}

// CutInput cuts text to at most maxChars characters (runes, never splitting
// one). When the cut would fall inside a word it moves back to the last
// whitespace, unless that would lose more than a tenth of the allowance, so
// the model is not shown a half word it might copy into a tag. A
// non-positive maxChars leaves the text as it is.
func CutInput(text string, maxChars int) string {
	if maxChars <= 0 || len(text) <= maxChars {
		// len counts bytes, which are never fewer than runes.
		return text
	}
	// Find the byte offset just past maxChars runes.
	cut, n := 0, 0
	for i := range text {
		if n == maxChars {
			cut = i
			break
		}
		n++
	}
	if n < maxChars || cut == 0 {
		return text // fewer than maxChars+1 runes
	}
	next, _ := utf8.DecodeRuneInString(text[cut:])
	prev, _ := utf8.DecodeLastRuneInString(text[:cut])
	if unicode.IsSpace(next) || unicode.IsSpace(prev) {
		return strings.TrimRightFunc(text[:cut], unicode.IsSpace)
	}
	// Mid-word: back off to the last whitespace within the last tenth.
	limit := maxChars / 10
	back := 0
	for i := cut; i > 0 && back <= limit; {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		if unicode.IsSpace(r) {
			if s := strings.TrimRightFunc(text[:i], unicode.IsSpace); s != "" {
				return s
			}
			break
		}
		i -= size
		back++
	}
	return text[:cut]
}
