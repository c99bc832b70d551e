package search_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/searchtest"
)

func TestMetrics(t *testing.T) {
	rel := map[string]int{"a": 2, "b": 1, "c": 1}
	cases := []struct {
		ranking      []string
		ndcg, recall float64
	}{
		{[]string{"a", "b", "c"}, 1, 1},
		{[]string{"x", "y"}, 0, 0},
		{[]string{"b", "a"}, (1 + 3/1.584962500721156) / (3 + 1/1.584962500721156 + 0.5), 2.0 / 3},
	}
	for _, c := range cases {
		if got := search.NDCG(c.ranking, rel, 10); abs(got-c.ndcg) > 1e-9 {
			t.Errorf("NDCG(%v) = %v, want %v", c.ranking, got, c.ndcg)
		}
		if got := search.Recall(c.ranking, rel, 20); abs(got-c.recall) > 1e-9 {
			t.Errorf("Recall(%v) = %v, want %v", c.ranking, got, c.recall)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// The judged set, evaluated the way `assistant eval search` does: every
// change to ranking is measured, and hybrid must stay ahead of both single
// modes on nDCG@10.
func TestJudgedSetHybridBeatsSingleModes(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	set, err := search.ReadJudgedSet(filepath.Join(filepath.Dir(file), "..", "testdata", "search", "judged.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Queries) < 40 {
		t.Fatalf("judged set has %d queries, want at least 40", len(set.Queries))
	}
	fx := searchtest.New(t)
	keyOf := map[string]string{}
	for i, id := range fx.IDs {
		keyOf[id] = search.PostKey(fx.Posts[i])
	}
	for _, q := range set.Queries {
		for key := range q.Relevant {
			found := false
			for _, k := range keyOf {
				if k == key {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("%s judges %s, which is not in the corpus sample", q.ID, key)
			}
		}
	}
	metrics, _, err := search.Evaluate(context.Background(), fx.Service, set, keyOf,
		[]search.Mode{search.Keyword, search.Semantic, search.Hybrid})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metrics {
		t.Logf("%-8s nDCG@10 %.3f  recall@20 %.3f  MRR %.3f", m.Mode, m.NDCG10, m.Recall20, m.MRR)
	}
	kw, sem, hy := metrics[0], metrics[1], metrics[2]
	if hy.NDCG10 <= kw.NDCG10 || hy.NDCG10 <= sem.NDCG10 {
		t.Fatalf("hybrid nDCG@10 %.3f does not beat keyword %.3f and semantic %.3f", hy.NDCG10, kw.NDCG10, sem.NDCG10)
	}
}
