package search

import (
	"math"
	"testing"
)

// TestFuseWeighsEachListByItsOwnWeight: hybrid fusion adds
// weight/(k+rank) from each list a post is in, the keyword list with
// KeywordWeight and the semantic list with SemanticWeight. The weights
// differ here, so a list weighed with the other's weight changes every
// score.
func TestFuseWeighsEachListByItsOwnWeight(t *testing.T) {
	t.Parallel()
	const k = 60.0
	s := &Service{opts: Options{RRFK: k, KeywordWeight: 0.5, SemanticWeight: 2}}
	kw := []ranked{{id: "both", keyRank: 1}, {id: "keyword-only", keyRank: 2}}
	sem := []ranked{{id: "semantic-only", semRank: 1, cosine: 0.9}, {id: "both", semRank: 2, cosine: 0.8}}
	want := []struct {
		id    string
		score float64
	}{
		{"both", 0.5/(k+1) + 2/(k+2)},
		{"semantic-only", 2 / (k + 1)},
		{"keyword-only", 0.5 / (k + 2)},
	}
	got := s.fuse(kw, sem)
	if len(got) != len(want) {
		t.Fatalf("fused %d posts, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].id != w.id || math.Abs(got[i].score-w.score) > 1e-12 {
			t.Errorf("rank %d: %s scored %.6f, want %s scored %.6f", i+1, got[i].id, got[i].score, w.id, w.score)
		}
	}
	if got[0].keyRank != 1 || got[0].semRank != 2 || got[0].cosine != 0.8 {
		t.Errorf("the post in both lists kept keyRank %d semRank %d cosine %v, want 1, 2, 0.8", got[0].keyRank, got[0].semRank, got[0].cosine)
	}
}
