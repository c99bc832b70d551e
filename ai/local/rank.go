package local

import (
	"math"
	"slices"
	"strings"
)

// The learned ranking (keyphrase-v5). The hand-set score of keyphrase-v4
// orders a post's candidates; the best rerankTop of them are then ordered
// again by a linear model over features of each candidate, with weights
// fitted on the tuning parts of the editors'-keyword sets
// (rank_weights.go, rebuilt by TestWriteRankWeights; docs/tags.md). The
// features are the hand-set score and the phrase's keyphraseness: how much
// more often than other candidates editors picked it as a keyword
// (keyphraseness.txt: «Украина» mostly, «Америка», «страна» or the outlet
// «RT» almost never). Frequency, position, casing, rarity and length
// features were tried as well and left out: they bought the news sets
// little more and cost the Telegram gold set (docs/tags.md). The weights
// and the table are constants: a post's tags still depend on its text
// alone.

// rerankTop is how many of the best candidates by hand-set score the
// model orders again; the rest keep their order below them.
const rerankTop = 30

// The ranking features of a candidate.
const (
	fScore = iota // log of the hand-set score
	fKPNeg        // keyphraseness below the base rate: log of its keyword rate over all candidates' (0 when unknown or above)
	fKPPos        // keyphraseness above the base rate
	numFeatures
)

// featureNames label the features in rank_weights.go.
var featureNames = [numFeatures]string{fScore: "fScore", fKPNeg: "fKPNeg", fKPPos: "fKPPos"}

// features sorts order by hand-set score (best first, ties by first
// occurrence) and sets the features of its best rerankTop candidates.
func (t *Tagger) features(order []*candidate) {
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
	kp := t.kp
	if kp == nil {
		kp = loadKeyphraseness()
	}
	for r, c := range order {
		if r >= rerankTop || c.score <= 0 {
			break
		}
		c.feat[fScore] = math.Log(c.score)
		lr := kp.logRatio[strings.TrimPrefix(c.key, "\x00")]
		c.feat[fKPNeg] = min(lr, 0)
		if c.name {
			c.feat[fKPPos] = max(lr, 0)
		}
	}
}

// rerank orders the head of order (the candidates features set) by the
// learned score, best first; ties keep the hand-set order.
func (t *Tagger) rerank(order []*candidate) {
	w := t.weights
	if w == nil {
		w = &rankWeights
	}
	n := 0
	for n < len(order) && n < rerankTop && order[n].score > 0 {
		c := order[n]
		s := 0.0
		for i, x := range c.feat {
			s += w[i] * x
		}
		c.model = s
		n++
	}
	slices.SortStableFunc(order[:n], func(a, b *candidate) int {
		switch {
		case a.model > b.model:
			return -1
		case a.model < b.model:
			return 1
		}
		return 0
	})
}
