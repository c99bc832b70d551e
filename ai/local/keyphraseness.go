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

// keyphrasenessFile holds, for the candidate phrases of the tuning parts
// of the editors'-keyword sets, in how many articles each was a candidate
// and in how many of them an editor's keyword (KEA's "keyphrase
// frequency"). Phrases are keyed as the tagger keys candidates: the crude
// stems of Cyrillic words, other words folded. See TestWriteRankWeights for
// how it is built and docs/tags.md for the source.
const keyphrasenessFile = "keyphraseness.txt"

// kpMinCandidate: phrases that were candidates in fewer articles are left
// out of the table (they weigh as unseen phrases do).
const kpMinCandidate = 4

// kpPrior is the weight, in articles, of the base rate in a phrase's
// smoothed rate (an m-estimate): a phrase seen a few times stays near it.
const kpPrior = 5

//go:embed keyphraseness.txt
var keyphrasenessData string

// keyphraseness maps a candidate key to the log of its smoothed keyword
// rate over the base rate of all candidates.
type keyphraseness struct {
	logRatio map[string]float64
}

var loadKeyphraseness = sync.OnceValue(func() *keyphraseness {
	k, err := parseKeyphraseness(keyphrasenessData)
	if err != nil {
		panic(fmt.Sprintf("local tagger: embedded %s: %v", keyphrasenessFile, err))
	}
	return k
})

// kpCount is one phrase's counts: articles where it was a candidate, and
// where it was a keyword too.
type kpCount struct{ cand, kw int }

// newKeyphraseness smooths counts into log ratios.
func newKeyphraseness(counts map[string]kpCount, cands, kws int) *keyphraseness {
	k := &keyphraseness{logRatio: make(map[string]float64, len(counts))}
	if cands == 0 || kws == 0 {
		return k
	}
	base := float64(kws) / float64(cands)
	for key, c := range counts {
		if c.cand < kpMinCandidate {
			continue
		}
		rate := (float64(c.kw) + kpPrior*base) / (float64(c.cand) + kpPrior)
		k.logRatio[key] = math.Log(rate / base)
	}
	return k
}

// formatKeyphraseness writes the table: a comment header, "total CANDS
// KWS", then "key<TAB>cand<TAB>kw" per phrase with cand >= kpMinCandidate,
// sorted.
func formatKeyphraseness(counts map[string]kpCount, cands, kws int) string {
	var sb strings.Builder
	sb.WriteString("# Keyphraseness of the local tagger (ai/local/rank.go, docs/tags.md): per candidate\n")
	sb.WriteString("# phrase, articles where it was a candidate and where an editor's keyword. Counted on\n")
	sb.WriteString("# the tuning parts (ng_0, russia_today_0, whole articles) of ru_kw_eval_datasets\n")
	sb.WriteString("# (github.com/mannefedov/ru_kw_eval_datasets); counts only, no text. Rebuild:\n")
	sb.WriteString("# TAGS_RANK_FIT=DIR go test ./ai/local -run TestWriteRankWeights\n")
	fmt.Fprintf(&sb, "total %d %d\n", cands, kws)
	keys := make([]string, 0, len(counts))
	for k, c := range counts {
		if c.cand >= kpMinCandidate {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s\t%d\t%d\n", k, counts[k].cand, counts[k].kw)
	}
	return sb.String()
}

func parseKeyphraseness(data string) (*keyphraseness, error) {
	counts := map[string]kpCount{}
	cands, kws := -1, -1
	for n, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "total "); ok {
			a, b, _ := strings.Cut(rest, " ")
			var err1, err2 error
			cands, err1 = strconv.Atoi(a)
			kws, err2 = strconv.Atoi(b)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("line %d: bad total %q", n+1, rest)
			}
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want 3 fields, have %d", n+1, len(f))
		}
		c, err1 := strconv.Atoi(f[1])
		k, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || k > c {
			return nil, fmt.Errorf("line %d: bad counts %q %q", n+1, f[1], f[2])
		}
		counts[f[0]] = kpCount{c, k}
	}
	if cands <= 0 || kws < 0 {
		return nil, fmt.Errorf("no total line")
	}
	return newKeyphraseness(counts, cands, kws), nil
}
