// Package extractbench scores article extraction the way Zyte's
// article-extraction-benchmark (github.com/scrapinghub/article-extraction-benchmark,
// MIT) does in its evaluate.py, and runs an extractor over the benchmark's
// pages. The scoring is re-implemented here, not copied: it tokenizes a
// text into runs of word characters (Python's \w: letters, digits and
// numbers of any script, and the underscore), counts 4-token shingles, and
// per page computes true/false positive and false negative shingle counts,
// normalised so that every page weighs the same. Precision and recall are
// means over pages; F1 is the harmonic mean of the two means.
package extractbench

import (
	"math"
	"unicode"
)

// shingleN is the benchmark's n-gram size.
const shingleN = 4

// Tokens splits text into runs of word characters, as the benchmark's
// regular expression \w+ does with Python's Unicode semantics.
func Tokens(text string) []string {
	var out []string
	start := -1
	for i, r := range text {
		if isWord(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, text[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, text[start:])
	}
	return out
}

// isWord is Python's str \w: alphabetic (L*), numeric (N*) or '_'.
func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// shingles counts the n-token shingles of text; a text shorter than n
// tokens is one shingle of all its tokens (none when it has no tokens).
func shingles(text string) map[string]int {
	toks := Tokens(text)
	out := make(map[string]int, len(toks))
	last := max(1, len(toks)-shingleN+1)
	for i := 0; i < last; i++ {
		end := min(i+shingleN, len(toks))
		if i >= end {
			break
		}
		key := ""
		for j, t := range toks[i:end] {
			if j > 0 {
				key += "\x00"
			}
			key += t
		}
		out[key]++
	}
	return out
}

// PageScore is one page's outcome.
type PageScore struct {
	// TP, FP and FN are the shingle counts normalised to sum to 1 (all zero
	// when both texts are empty).
	TP, FP, FN float64
	// Exact is true when the token sequences are equal (the benchmark's
	// "accuracy").
	Exact bool
	// WordRecall is the share of the true text's words (as a multiset) that
	// the prediction has; 1 when the true text has none.
	WordRecall float64
	// TrueWords and PredWords are token counts.
	TrueWords, PredWords int
}

// Precision is the page's shingle precision, with the benchmark's
// conventions for empty texts.
func (s PageScore) Precision() float64 {
	switch {
	case s.FP == 0 && s.FN == 0:
		return 1
	case s.TP == 0 && s.FP == 0:
		return 0
	}
	return s.TP / (s.TP + s.FP)
}

// Recall is the page's shingle recall.
func (s PageScore) Recall() float64 {
	switch {
	case s.FP == 0 && s.FN == 0:
		return 1
	case s.TP == 0 && s.FN == 0:
		return 0
	}
	return s.TP / (s.TP + s.FN)
}

// LostHalf reports whether the prediction misses more than half the true
// text's words.
func (s PageScore) LostHalf() bool { return s.WordRecall < 0.5 }

// Score compares a predicted article body with the true one.
func Score(truth, pred string) PageScore {
	ts, ps := shingles(truth), shingles(pred)
	var tp, fp, fn float64
	for k, tc := range ts {
		pc := ps[k]
		tp += float64(min(tc, pc))
		fn += float64(max(0, tc-pc))
	}
	for k, pc := range ps {
		fp += float64(max(0, pc-ts[k]))
	}
	if s := tp + fp + fn; s > 0 {
		tp, fp, fn = tp/s, fp/s, fn/s
	}
	tt, pt := Tokens(truth), Tokens(pred)
	out := PageScore{TP: tp, FP: fp, FN: fn, TrueWords: len(tt), PredWords: len(pt), WordRecall: 1}
	out.Exact = len(tt) == len(pt)
	if out.Exact {
		for i := range tt {
			if tt[i] != pt[i] {
				out.Exact = false
				break
			}
		}
	}
	if len(tt) > 0 {
		have := make(map[string]int, len(pt))
		for _, t := range pt {
			have[t]++
		}
		kept := 0
		for _, t := range tt {
			if have[t] > 0 {
				have[t]--
				kept++
			}
		}
		out.WordRecall = float64(kept) / float64(len(tt))
	}
	return out
}

// Metrics summarise a set of pages as the benchmark reports them, plus the
// share of pages that lose more than half their words.
type Metrics struct {
	Pages     int     `json:"pages"`
	F1        float64 `json:"f1"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Accuracy  float64 `json:"accuracy"`
	// LostHalf is the share of pages whose prediction misses more than
	// half the true text's words.
	LostHalf float64 `json:"lost_half"`
}

// Summarize averages page scores: precision over pages with any predicted
// or matched shingle, recall over pages with any true shingle, as
// evaluate.py's metrics_from_tp_fp_fns does.
func Summarize(scores []PageScore) Metrics {
	m := Metrics{Pages: len(scores)}
	var pSum, rSum float64
	var pN, rN, exact, lost int
	for _, s := range scores {
		if s.TP+s.FP > 0 {
			pSum += s.Precision()
			pN++
		}
		if s.TP+s.FN > 0 {
			rSum += s.Recall()
			rN++
		}
		if s.Exact {
			exact++
		}
		if s.LostHalf() {
			lost++
		}
	}
	if pN > 0 {
		m.Precision = pSum / float64(pN)
	}
	if rN > 0 {
		m.Recall = rSum / float64(rN)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	if len(scores) > 0 {
		m.Accuracy = float64(exact) / float64(len(scores))
		m.LostHalf = float64(lost) / float64(len(scores))
	}
	if math.IsNaN(m.F1) {
		m.F1 = 0
	}
	return m
}
