package ai

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// BatchPromptVersion names the wording of the batched tagging prompt
// (BuildBatchTagPrompt); tag sets from a batched answer carry it.
const BatchPromptVersion = "tags-v1-batch"

// BatchTagger is a Tagger that can tag several posts with one model call:
// the system prompt is sent once for all of them, which is what a provider
// charging per prompt token, or serving one request at a time, makes worth
// it. The answer is returned unvalidated; ValidateBatch splits it per post.
type BatchTagger interface {
	Tagger
	TagBatch(ctx context.Context, reqs []TagRequest) (TagResponse, error)
}

// batchPostHeader starts each post of a batched prompt; the number follows.
const batchPostHeader = "### Пост "

// BuildBatchTagPrompt returns the batched tagging prompt: the rules of
// BuildTagPrompt once, asking for a JSON object keyed by post number, and
// the posts numbered from 1 in the user message. texts are concatenated
// verbatim, as in BuildTagPrompt.
func BuildBatchTagPrompt(texts []string, maxTags int) (system, user string) {
	if maxTags <= 0 {
		maxTags = DefaultMaxTags
	}
	minTags := min(3, maxTags)
	count := strconv.Itoa(minTags) + "–" + strconv.Itoa(maxTags)
	if minTags == maxTags {
		count = strconv.Itoa(maxTags)
	}
	var b strings.Builder
	b.Grow(1400)
	b.WriteString("Ты — строгая система тегирования постов из Telegram-каналов.\n")
	b.WriteString("Тебе дано несколько пронумерованных постов. Для каждого поста найди в его тексте ")
	b.WriteString(count)
	b.WriteString(" ключевых слов или коротких фраз (от 1 до 3 слов), которые лучше всего описывают его содержание.\n")
	b.WriteString("Правила:\n")
	b.WriteString("1. Каждый тег взят дословно из текста того же поста: слово или фраза должны встречаться в тексте этого поста именно в таком написании. Не бери теги из других постов, не придумывай слов, не переводи их и не меняй их форму.\n")
	b.WriteString("2. Не используй общие категории (например, «новости», «технологии», «общество»): только конкретные имена, названия, термины и понятия из текста.\n")
	b.WriteString("3. Каждый тег — от 1 до 3 слов.\n")
	b.WriteString("4. Ответь только JSON-объектом: ключ — номер поста строкой, значение — JSON-массив тегов этого поста, например: {\"1\": [\"Сбер\", \"GigaChat\"], \"2\": [\"ЦБ\", \"ключевая ставка\"]}. Ответь для каждого поста, без Markdown, без ```, без пояснений и без другого текста.\n")
	b.WriteString("5. Если в посте нет подходящих слов, его значение — пустой массив: []\n")
	system = b.String()
	var u strings.Builder
	n := 0
	for _, t := range texts {
		n += len(t) + 16
	}
	u.Grow(n)
	for i, t := range texts {
		if i > 0 {
			u.WriteString("\n\n")
		}
		u.WriteString(batchPostHeader)
		u.WriteString(strconv.Itoa(i + 1))
		u.WriteString("\n")
		u.WriteString(t)
	}
	return system, u.String()
}

// SplitBatchPrompt recovers the posts of a batched prompt's user message
// (the inverse of BuildBatchTagPrompt's numbering); the emulators use it to
// answer. It returns nil when user is not a batched prompt.
func SplitBatchPrompt(user string) []string {
	if !strings.HasPrefix(user, batchPostHeader+"1\n") {
		return nil
	}
	var texts []string
	rest := user
	for i := 1; ; i++ {
		head := batchPostHeader + strconv.Itoa(i) + "\n"
		if !strings.HasPrefix(rest, head) {
			return texts
		}
		rest = rest[len(head):]
		next := "\n\n" + batchPostHeader + strconv.Itoa(i+1) + "\n"
		j := strings.Index(rest, next)
		if j < 0 {
			return append(texts, rest)
		}
		texts = append(texts, rest[:j])
		rest = rest[j+2:]
	}
}

// Reasons a post of a batched answer is tagged again on its own.
const (
	// BatchNoAnswer: the whole answer has no JSON object (or the call
	// failed): every post of the batch falls back.
	BatchNoAnswer = "no_object"
	// BatchMissing: the object has no key for the post.
	BatchMissing = "missing"
	// BatchNotArray: the post's value is not a JSON array of tags.
	BatchNotArray = "not_array"
	// BatchUngrounded: the post got tags, but none of them occurs in its
	// text — the sign of an answer whose numbers are mixed up.
	BatchUngrounded = "ungrounded"
)

// BatchPart is the outcome for one post of a batched answer.
type BatchPart struct {
	// Result is the post's validated tags (ValidateTags against its own
	// text); meaningful only when Fallback is "".
	Result ValidationResult
	// Fallback is why the post must be tagged on its own (one of the
	// Batch* reasons), or "" when Result stands.
	Fallback string
}

// ValidateBatch splits a batched answer into one part per text and
// validates each against its own text. It finds the first JSON object in
// raw (tolerating a Markdown fence, prose and «» quotes as ValidateTags
// does), reads keys "1".."n" (also "Пост 1", "#1"), and ignores keys that
// name no post of the batch, which it counts in extra. A post whose key is
// missing, whose value is not an array, or whose tags all fail grounding
// gets a Fallback reason instead of tags.
func ValidateBatch(raw string, texts []string, maxTags int) (parts []BatchPart, extra int) {
	parts = make([]BatchPart, len(texts))
	obj, ok := findJSONObject(raw)
	if !ok {
		for i := range parts {
			parts[i].Fallback = BatchNoAnswer
		}
		return parts, 0
	}
	values := make([]json.RawMessage, len(texts))
	for key, v := range obj {
		i, ok := postNumber(key)
		if !ok || i < 1 || i > len(texts) {
			extra++
			continue
		}
		values[i-1] = v
	}
	for i, v := range values {
		switch {
		case v == nil:
			parts[i].Fallback = BatchMissing
		case len(v) == 0 || v[0] != '[':
			parts[i].Fallback = BatchNotArray
		default:
			res := ValidateTags(string(v), texts[i], maxTags)
			switch {
			case res.Rejected[RejectNotJSON] > 0:
				parts[i].Fallback = BatchNotArray
			case len(res.Tags) == 0 && res.Rejected[RejectNotInText] > 0:
				parts[i].Fallback = BatchUngrounded
			default:
				parts[i].Result = res
			}
		}
	}
	return parts, extra
}

// postNumber reads a key of a batched answer: "3", " 3 ", "Пост 3", "#3".
func postNumber(key string) (int, bool) {
	key = strings.TrimSpace(key)
	key = strings.TrimLeftFunc(key, func(r rune) bool { return !unicode.IsDigit(r) })
	n, err := strconv.Atoi(key)
	return n, err == nil
}

// findJSONObject finds the first JSON object in raw, as findJSONArray finds
// an array.
func findJSONObject(raw string) (map[string]json.RawMessage, bool) {
	if obj, ok := scanObjects(raw); ok {
		return obj, true
	}
	if strings.ContainsAny(raw, "«»“”„") {
		fixed := strings.NewReplacer("«", `"`, "»", `"`, "“", `"`, "”", `"`, "„", `"`).Replace(raw)
		if obj, ok := scanObjects(fixed); ok {
			return obj, true
		}
	}
	return nil, false
}

func scanObjects(s string) (map[string]json.RawMessage, bool) {
	from := 0
	for range maxArrayStarts {
		i := strings.IndexByte(s[from:], '{')
		if i < 0 {
			return nil, false
		}
		from += i
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(strings.NewReader(s[from:]))
		if err := dec.Decode(&obj); err == nil {
			return obj, true
		}
		from++
	}
	return nil, false
}
