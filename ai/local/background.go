package local

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// backgroundFile holds the background document frequencies: how many posts
// of a general Russian news corpus hold each word stem. See
// TestWriteBackgroundDF for how it is built and docs/tags.md for the source.
const backgroundFile = "background_df.txt"

// backgroundMinDF: stems in fewer posts are left out of the table (they
// weigh as unseen words do).
const backgroundMinDF = 3

//go:embed background_df.txt
var backgroundData string

// background is the parsed table: stem → posts holding it, out of docs.
type background struct {
	docs int
	df   map[string]int32
	// maxIDF is the IDF of an unseen stem.
	maxIDF float64
}

var loadBackground = sync.OnceValue(func() *background {
	b, err := parseBackgroundDF(backgroundData)
	if err != nil {
		panic(fmt.Sprintf("local tagger: embedded %s: %v", backgroundFile, err))
	}
	return b
})

// idf is the inverse document frequency of stem in the background corpus.
func (b *background) idf(stem string) float64 {
	return math.Log(float64(b.docs+1) / float64(b.df[stem]+1))
}

// backgroundTerms returns the distinct stems of the words of toks: what a
// post contributes to the table.
func backgroundTerms(toks []token) map[string]struct{} {
	out := make(map[string]struct{}, len(toks))
	for i := range toks {
		out[toks[i].stem] = struct{}{}
	}
	return out
}

// formatBackgroundDF writes the table: a comment header, "docs N", then
// one "stem<TAB>df" line per stem with df >= backgroundMinDF, sorted.
func formatBackgroundDF(docs int, df map[string]int) string {
	var sb strings.Builder
	sb.WriteString("# Background document frequencies of the local tagger (ai/local, docs/tags.md).\n")
	sb.WriteString("# Derived from the \"Dataset of Telegram News Posts\", NKTKLN/telegram-news-classifier\n")
	sb.WriteString("# (data/raw), CC BY 4.0 https://creativecommons.org/licenses/by/4.0/ ; the posts of\n")
	sb.WriteString("# testdata/tags-gold left out. Rebuild: TAGS_BACKGROUND_RAW=DIR go test ./ai/local -run TestWriteBackgroundDF\n")
	fmt.Fprintf(&sb, "docs %d\n", docs)
	keys := make([]string, 0, len(df))
	for k, n := range df {
		if n >= backgroundMinDF {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s\t%d\n", k, df[k])
	}
	return sb.String()
}

func parseBackgroundDF(data string) (*background, error) {
	b := &background{df: make(map[string]int32, 16384)}
	for n, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "docs "); ok {
			d, err := strconv.Atoi(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			b.docs = d
			continue
		}
		stem, count, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("line %d: no tab", n+1)
		}
		c, err := strconv.Atoi(count)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		b.df[stem] = int32(c)
	}
	if b.docs <= 0 {
		return nil, fmt.Errorf("no docs line")
	}
	b.maxIDF = math.Log(float64(b.docs + 1))
	return b, nil
}
