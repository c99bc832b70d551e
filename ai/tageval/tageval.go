// Package tageval scores a tagger against gold keywords: precision, recall
// and F1 of the first k tags of each post, with two ways of matching a tag
// to a keyword — exact (equal after case and ё/е folding) and stem-level
// (equal word by word after a light suffix-stripping stemmer, so «Ирана»
// matches «Иран» and "databases" matches "database").
//
// Tags are judged the way the tag stage publishes them: the tagger's raw
// answer goes through ai.ValidateTags against the post text, and only what
// survives counts. The report also counts how many proposed tags the
// validator kept, so a tagger that proposes ungrounded tags shows it.
package tageval

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/assistant-dev/assistant/ai"
)

// Item is one gold post.
type Item struct {
	PostID    string   `json:"post_id"`
	Channel   string   `json:"channel"`
	ChannelID int64    `json:"channel_id"`
	MessageID int64    `json:"message_id"`
	Text      string   `json:"text"`
	Keywords  []string `json:"keywords"`
}

// Load reads a gold set: one JSON Item per line.
func Load(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open gold set: %w", err)
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var it Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("gold set %s line %d: %w", path, line, err)
		}
		if it.Text == "" || len(it.Keywords) == 0 {
			return nil, fmt.Errorf("gold set %s line %d: no text or no keywords", path, line)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read gold set %s: %w", path, err)
	}
	return items, nil
}

// Scores are macro-averaged over posts: each post's precision, recall and
// F1, then the mean. A post with no tags has precision 0.
type Scores struct {
	P, R, F1 float64
}

func (s Scores) String() string {
	return fmt.Sprintf("P=%.3f R=%.3f F1=%.3f", s.P, s.R, s.F1)
}

// PostResult is one post's tags and how many of them matched.
type PostResult struct {
	Item         Item
	Tags         []string // validated tags, at most k
	ExactMatches int
	StemMatches  int
}

// Report is the outcome of Evaluate.
type Report struct {
	K     int
	Posts int
	Exact Scores
	Stem  Scores
	// Proposed counts the tags the tagger proposed (up to k per post);
	// Grounded those that ai.ValidateTags kept.
	Proposed, Grounded int
	Results            []PostResult
}

func (r Report) String() string {
	return fmt.Sprintf("%d posts, @%d: exact %s; stem %s; %d/%d proposed tags grounded",
		r.Posts, r.K, r.Exact, r.Stem, r.Grounded, r.Proposed)
}

// Options adjust Evaluate.
type Options struct {
	// K is how many tags count per post (5 when zero).
	K int
	// Warmup posts are tagged first and not scored, so a tagger that learns
	// from the stream (per-channel statistics) has seen a channel's recent
	// posts, as it would in production.
	Warmup []Item
}

// Evaluate asks tagger for the tags of every item, in order, and scores the
// validated tags against the gold keywords.
func Evaluate(ctx context.Context, tagger ai.Tagger, items []Item, opt Options) (Report, error) {
	k := opt.K
	if k <= 0 {
		k = ai.DefaultMaxTags
	}
	for _, it := range opt.Warmup {
		if _, err := tagger.Tag(ctx, request(it, k)); err != nil {
			return Report{}, fmt.Errorf("warm-up post %s: %w", it.PostID, err)
		}
	}
	rep := Report{K: k, Posts: len(items), Results: make([]PostResult, 0, len(items))}
	var exact, stem Scores
	for _, it := range items {
		resp, err := tagger.Tag(ctx, request(it, k))
		if err != nil {
			return Report{}, fmt.Errorf("tag post %s: %w", it.PostID, err)
		}
		var proposed []any
		if json.Unmarshal([]byte(resp.Raw), &proposed) == nil {
			rep.Proposed += min(len(proposed), k)
		}
		tags := ai.ValidateTags(resp.Raw, it.Text, k).Tags
		rep.Grounded += len(tags)
		res := PostResult{Item: it, Tags: tags}
		res.ExactMatches = Matches(tags, it.Keywords, ExactKey)
		res.StemMatches = Matches(tags, it.Keywords, StemKey)
		rep.Results = append(rep.Results, res)
		add(&exact, res.ExactMatches, len(tags), len(it.Keywords))
		add(&stem, res.StemMatches, len(tags), len(it.Keywords))
	}
	if n := float64(len(items)); n > 0 {
		rep.Exact = Scores{exact.P / n, exact.R / n, exact.F1 / n}
		rep.Stem = Scores{stem.P / n, stem.R / n, stem.F1 / n}
	}
	return rep, nil
}

func request(it Item, k int) ai.TagRequest {
	ch := ""
	if it.ChannelID != 0 {
		ch = fmt.Sprint(it.ChannelID)
	} else {
		ch = it.Channel
	}
	return ai.TagRequest{Text: it.Text, MaxTags: k, Channel: ch}
}

func add(sum *Scores, matched, tags, gold int) {
	var p, r, f float64
	if tags > 0 {
		p = float64(matched) / float64(tags)
	}
	if gold > 0 {
		r = float64(matched) / float64(gold)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	sum.P += p
	sum.R += r
	sum.F1 += f
}

// Matches counts the tags that match a distinct gold keyword under key (a
// one-to-one matching: two tags never match the same keyword).
func Matches(tags, gold []string, key func(string) string) int {
	used := make([]bool, len(gold))
	gk := make([]string, len(gold))
	for i, g := range gold {
		gk[i] = key(g)
	}
	n := 0
	for _, t := range tags {
		tk := key(t)
		for i := range gold {
			if !used[i] && gk[i] == tk {
				used[i] = true
				n++
				break
			}
		}
	}
	return n
}

// ExactKey is the comparison form for exact matching: ai.FoldTag.
func ExactKey(s string) string { return ai.FoldTag(s) }

// StemKey is the comparison form for stem-level matching: the folded words,
// split at spaces, hyphens and other punctuation, each reduced by Stem.
func StemKey(s string) string {
	words := strings.FieldsFunc(ai.FoldTag(s), func(r rune) bool {
		return !(isLetter(r) || (r >= '0' && r <= '9'))
	})
	for i, w := range words {
		words[i] = Stem(w)
	}
	return strings.Join(words, " ")
}
