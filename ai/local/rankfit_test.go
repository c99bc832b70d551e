package local

import (
	"context"
	"fmt"
	"go/format"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai/tageval"
)

// rankFitEnv names the directory holding the unzipped ru_kw_eval_datasets
// files (see rukw_test.go). With it set, TestWriteRankWeights refits the
// ranking weights on the tuning parts only (ng_0, russia_today_0; leads and
// whole articles) and rewrites rank_weights.go. The held-out parts (_1) are
// never read here.
const rankFitEnv = "TAGS_RANK_FIT"

// rankTuningFiles are the tuning parts the weights are fitted on.
var rankTuningFiles = []string{"ng_0", "russia_today_0"}

// rankDoc is one post's reranked candidates: their features and whether
// each one, as shown, matches an editor's keyword (stem level, as the
// evaluation counts).
type rankDoc struct {
	x [][numFeatures]float64
	y []bool
}

// rankDocs turns gold items into training rows.
func rankDocs(tg *Tagger, items []tageval.Item) []rankDoc {
	docs := make([]rankDoc, 0, len(items))
	for _, it := range items {
		gold := make(map[string]bool, len(it.Keywords))
		for _, k := range it.Keywords {
			gold[tageval.StemKey(k)] = true
		}
		toks, order := tg.candidates(context.Background(), "", it.Text)
		var d rankDoc
		pos := 0
		for r, c := range order {
			if r >= rerankTop || c.score <= 0 {
				break
			}
			y := gold[tageval.StemKey(shownTag(it.Text, toks, c))]
			if y {
				pos++
			}
			d.x = append(d.x, c.feat)
			d.y = append(d.y, y)
		}
		if pos > 0 && pos < len(d.y) {
			docs = append(docs, d)
		}
	}
	return docs
}

// fitRank fits linear ranking weights by a listwise softmax loss per post
// (the candidates that match a keyword should take the probability mass),
// with an L2 penalty, by full-batch Adam from the hand-set order (fScore 1).
// It is deterministic: the same docs give the same weights.
func fitRank(docs []rankDoc, iters int, l2 float64) [numFeatures]float64 {
	var w, m, v [numFeatures]float64
	w[fScore] = 1
	const lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-8
	s := make([]float64, rerankTop)
	for it := 1; it <= iters; it++ {
		var g [numFeatures]float64
		for _, d := range docs {
			s = s[:len(d.x)]
			mx := math.Inf(-1)
			for j := range d.x {
				s[j] = dot(&w, &d.x[j])
				mx = max(mx, s[j])
			}
			sum, npos := 0.0, 0.0
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
				if d.y[j] {
					npos++
				}
			}
			for j := range s {
				p := s[j] / sum
				if d.y[j] {
					p -= 1 / npos
				}
				for k := range g {
					g[k] += p * d.x[j][k]
				}
			}
		}
		for k := range g {
			g[k] = g[k]/float64(len(docs)) + l2*w[k]
			m[k] = b1*m[k] + (1-b1)*g[k]
			v[k] = b2*v[k] + (1-b2)*g[k]*g[k]
			mh := m[k] / (1 - math.Pow(b1, float64(it)))
			vh := v[k] / (1 - math.Pow(b2, float64(it)))
			w[k] -= lr * mh / (math.Sqrt(vh) + eps)
		}
	}
	return w
}

// rankLoss is the mean listwise loss of w on docs.
func rankLoss(docs []rankDoc, w *[numFeatures]float64) float64 {
	total := 0.0
	for _, d := range docs {
		mx := math.Inf(-1)
		s := make([]float64, len(d.x))
		for j := range d.x {
			s[j] = dot(w, &d.x[j])
			mx = max(mx, s[j])
		}
		sum, npos, pos := 0.0, 0.0, 0.0
		for j := range s {
			sum += math.Exp(s[j] - mx)
			if d.y[j] {
				npos++
				pos += s[j] - mx
			}
		}
		total += math.Log(sum) - pos/npos
	}
	return total / float64(len(docs))
}

func dot(w, x *[numFeatures]float64) float64 {
	s := 0.0
	for k := range w {
		s += w[k] * x[k]
	}
	return s
}

const (
	rankFitIters = 400
	rankFitL2    = 1e-3
)

// rankArticle is one tuning article in both views.
type rankArticle struct{ lead, article tageval.Item }

// loadRankTuning reads the tuning parts, each article as a lead and whole.
func loadRankTuning(t *testing.T, dir string) []rankArticle {
	var out []rankArticle
	for _, name := range rankTuningFiles {
		path := filepath.Join(dir, name+".jsonlines")
		leads, err := tageval.LoadRuKW(path, tageval.Lead, 0)
		if err != nil {
			t.Fatal(err)
		}
		articles, err := tageval.LoadRuKW(path, tageval.Article, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(leads) != len(articles) {
			t.Fatalf("%s: %d leads, %d articles", name, len(leads), len(articles))
		}
		for i := range leads {
			if leads[i].PostID != articles[i].PostID {
				t.Fatalf("%s: item %d is %s as a lead, %s whole", name, i, leads[i].PostID, articles[i].PostID)
			}
			out = append(out, rankArticle{leads[i], articles[i]})
		}
	}
	return out
}

// countKeyphraseness counts, over the whole-article view of arts, the
// articles where each phrase is among the best rerankTop candidates and
// those where, as shown, it matches an editor's keyword.
func countKeyphraseness(tg *Tagger, arts []rankArticle) (counts map[string]kpCount, cands, kws int) {
	counts = map[string]kpCount{}
	for _, a := range arts {
		it := a.article
		gold := make(map[string]bool, len(it.Keywords))
		for _, k := range it.Keywords {
			gold[tageval.StemKey(k)] = true
		}
		toks, order := tg.candidates(context.Background(), "", it.Text)
		for r, c := range order {
			if r >= rerankTop || c.score <= 0 {
				break
			}
			key := strings.TrimPrefix(c.key, "\x00")
			kc := counts[key]
			kc.cand++
			cands++
			if gold[tageval.StemKey(shownTag(it.Text, toks, c))] {
				kc.kw++
				kws++
			}
			counts[key] = kc
		}
	}
	return counts, cands, kws
}

// fitRankModel fits the keyphraseness table and the weights on arts. The
// weights are fitted on features whose keyphraseness comes from the other
// half of arts (out of fold), so they do not learn to trust a table that
// has seen the very article; the table returned counts all of arts.
func fitRankModel(arts []rankArticle) (counts map[string]kpCount, cands, kws int, w [numFeatures]float64, docs int) {
	var halves [2][]rankArticle
	for i, a := range arts {
		halves[i%2] = append(halves[i%2], a)
	}
	var train []rankDoc
	for h := range halves {
		c, n, k := countKeyphraseness(NewTagger(WithoutChannelStats()), halves[1-h])
		tg := NewTagger(WithoutChannelStats())
		tg.kp = newKeyphraseness(c, n, k)
		var leads, whole []tageval.Item
		for _, a := range halves[h] {
			leads = append(leads, a.lead)
			whole = append(whole, a.article)
		}
		train = append(train, rankDocs(tg, leads)...)
		train = append(train, rankDocs(tg, whole)...)
	}
	w = fitRank(train, rankFitIters, rankFitL2)
	counts, cands, kws = countKeyphraseness(NewTagger(WithoutChannelStats()), arts)
	return counts, cands, kws, w, len(train)
}

// TestWriteRankWeights refits rank_weights.go and keyphraseness.txt on the
// tuning parts. With TAGS_RANK_CV=1 it writes nothing and prints a
// two-fold cross-validation on the tuning parts instead (fit on odd
// articles, score the even ones and the other way round) against the
// hand-set order.
func TestWriteRankWeights(t *testing.T) {
	dir := os.Getenv(rankFitEnv)
	if dir == "" {
		t.Skipf("%s not set", rankFitEnv)
	}
	arts := loadRankTuning(t, dir)
	if os.Getenv("TAGS_RANK_CV") != "" {
		var folds [2][]rankArticle
		for i, a := range arts {
			folds[i%2] = append(folds[i%2], a)
		}
		hand := NewTagger(WithoutChannelStats())
		hand.kp = &keyphraseness{}
		hand.weights = &[numFeatures]float64{fScore: 1}
		var sumB, sumA [2]float64 // leads, articles
		for f := range folds {
			counts, n, k, w, _ := fitRankModel(folds[1-f])
			t.Logf("fold %d weights %v", f, w)
			learned := NewTagger(WithoutChannelStats())
			learned.kp = newKeyphraseness(counts, n, k)
			learned.weights = &w
			for v, view := range []string{"lead", "article"} {
				for _, outlet := range []string{"ng.ru", "rt.com"} {
					var items []tageval.Item
					for _, a := range folds[f] {
						it := a.lead
						if v == 1 {
							it = a.article
						}
						if strings.Contains(it.Channel, outlet) {
							items = append(items, it)
						}
					}
					before, after := evalF1(t, hand, items), evalF1(t, learned, items)
					sumB[v] += before
					sumA[v] += after
					t.Logf("fold %d %-15s %-7s %4d posts: hand-set %.3f  learned %.3f  %+.3f", f, outlet, view, len(items), before, after, after-before)
				}
			}
		}
		t.Logf("means over folds and outlets: leads %.4f → %.4f, articles %.4f → %.4f", sumB[0]/4, sumA[0]/4, sumB[1]/4, sumA[1]/4)
		gold, err := tageval.Load("../../testdata/tags-gold/tuning.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		counts, n, k, w, _ := fitRankModel(arts)
		learned := NewTagger(WithoutChannelStats())
		learned.kp = newKeyphraseness(counts, n, k)
		learned.weights = &w
		t.Logf("tags-gold tuning, fitted on all of ru_kw tuning: hand-set %.3f  learned %.3f", evalF1(t, hand, gold), evalF1(t, learned, gold))
		return
	}
	counts, n, k, w, docs := fitRankModel(arts)
	if err := os.WriteFile(keyphrasenessFile, []byte(formatKeyphraseness(counts, n, k)), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := formatRankWeights(w, docs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("rank_weights.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d articles, %d training posts; %d phrases in %s", len(arts), docs, len(loadKeyphrasenessFrom(t, formatKeyphraseness(counts, n, k)).logRatio), keyphrasenessFile)
}

func loadKeyphrasenessFrom(t *testing.T, data string) *keyphraseness {
	k, err := parseKeyphraseness(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func evalF1(t *testing.T, tg *Tagger, items []tageval.Item) float64 {
	rep, err := tageval.Evaluate(context.Background(), tg, items, tageval.Options{K: 5})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Stem.F1
}

// formatRankWeights renders rank_weights.go, gofmt'ed.
func formatRankWeights(w [numFeatures]float64, docs int) ([]byte, error) {
	var b strings.Builder
	b.WriteString("// Code generated by TestWriteRankWeights; DO NOT EDIT.\n\npackage local\n\n")
	b.WriteString("// rankWeights: the linear ranking model of rank.go, fitted on the tuning\n")
	b.WriteString("// parts of ru_kw_eval_datasets (ng_0, russia_today_0; leads and whole\n")
	fmt.Fprintf(&b, "// articles: %d posts with a keyword among their candidates), listwise\n", docs)
	fmt.Fprintf(&b, "// softmax loss, L2 %g, %d Adam steps. Rebuild:\n", rankFitL2, rankFitIters)
	b.WriteString("// TAGS_RANK_FIT=DIR go test ./ai/local -run TestWriteRankWeights\n")
	b.WriteString("var rankWeights = [numFeatures]float64{\n")
	for k, x := range w {
		fmt.Fprintf(&b, "\t%s: %.4f,\n", featureNames[k], x)
	}
	b.WriteString("}\n")
	return format.Source([]byte(b.String()))
}

// TestFitRank: on posts where the keywords are the candidates with a high
// keyphraseness and the hand-set score is noise, the fit weights
// keyphraseness up and lowers the loss below the hand-set order's.
func TestFitRank(t *testing.T) {
	var docs []rankDoc
	seed := uint32(1)
	next := func() float64 { // a small LCG: deterministic noise
		seed = seed*1664525 + 1013904223
		return float64(seed>>8) / (1 << 24)
	}
	for range 200 {
		var d rankDoc
		for j := range 10 {
			var x [numFeatures]float64
			x[fScore] = next()
			y := j < 2
			if y {
				x[fKPPos] = 1 + next()
			} else {
				x[fKPNeg] = -next()
			}
			d.x = append(d.x, x)
			d.y = append(d.y, y)
		}
		docs = append(docs, d)
	}
	hand := [numFeatures]float64{fScore: 1}
	w := fitRank(docs, 200, rankFitL2)
	if w[fKPPos] < 1 || w[fKPNeg] < 0.5 {
		t.Errorf("fitted weights %v: want fKPPos ≥ 1 and fKPNeg ≥ 0.5", w)
	}
	if lh, lw := rankLoss(docs, &hand), rankLoss(docs, &w); lw > lh/2 {
		t.Errorf("loss %.3f fitted, %.3f hand-set: want under half", lw, lh)
	}
	if w2 := fitRank(docs, 200, rankFitL2); w2 != w {
		t.Errorf("two fits differ: %v, %v", w, w2)
	}
}
