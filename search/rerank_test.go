package search_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/searchtest"
)

// matcher is the fixture's embedder with a text matcher that scores 1 the
// texts equal to want and 0 the others.
type matcher struct {
	*local.Embedder
	want  string
	calls int
}

func (m *matcher) MatchesTexts() bool { return true }

func (m *matcher) MatchTexts(_ context.Context, _ string, texts []string) ([]float64, error) {
	m.calls++
	out := make([]float64, len(texts))
	for i, t := range texts {
		if t == m.want {
			out[i] = 1
		}
	}
	return out, nil
}

func TestRerankByTextMatch(t *testing.T) {
	fx := searchtest.New(t)
	ctx := context.Background()
	const query = "запуск ракеты на орбиту"
	service := func(emb interface {
		Embed(context.Context, []string) ([][]float32, error)
		Dimension() int
		Model() string
	}, rerank int) *search.Service {
		o := search.DefaultOptions()
		o.Rerank = rerank
		return search.New(fx.Pool, emb, search.IndexVectors{Index: fx.Index}, o)
	}
	ids := func(s *search.Service, mode search.Mode) []string {
		t.Helper()
		page, err := s.Search(ctx, search.Query{Text: query, Mode: mode, Limit: 40})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(page.Results))
		for i, r := range page.Results {
			out[i] = r.PostID
		}
		return out
	}
	base := ids(service(local.NewEmbedder(0), -1), search.Semantic)
	if len(base) < 40 {
		t.Fatalf("%d semantic results", len(base))
	}
	// The post at rank 20, matched by text, comes first when the first 30
	// are re-ranked, and stays where it was when only the first 10 are.
	const from = 19
	text := ""
	for i, id := range fx.IDs {
		if id == base[from] {
			text = fx.Posts[i].Text
		}
	}
	tests := []struct {
		name   string
		rerank int
		first  string
	}{
		{"first 30 re-ranked", 30, base[from]},
		{"first 10 re-ranked", 10, base[0]},
		{"no re-ranking", -1, base[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &matcher{Embedder: local.NewEmbedder(0), want: text}
			got := ids(service(m, tt.rerank), search.Semantic)
			if got[0] != tt.first {
				t.Fatalf("first %s, want %s", got[0], tt.first)
			}
			if (m.calls > 0) != (tt.rerank > 0) {
				t.Fatalf("%d text matches asked with rerank %d", m.calls, tt.rerank)
			}
			// Beyond the re-ranked head the order is the vector order.
			if n := max(tt.rerank, 0); n > 0 {
				for i := n; i < len(got) && i < len(base); i++ {
					if got[i] != base[i] {
						t.Fatalf("rank %d: %s, vector order %s", i+1, got[i], base[i])
					}
				}
			}
			// Hybrid fuses the re-ranked semantic list.
			if tt.rerank == 30 {
				hy := ids(service(m, tt.rerank), search.Hybrid)
				pos := -1
				for i, id := range hy {
					if id == base[from] {
						pos = i
					}
				}
				plain := ids(service(local.NewEmbedder(0), -1), search.Hybrid)
				before := -1
				for i, id := range plain {
					if id == base[from] {
						before = i
					}
				}
				if pos < 0 || (before >= 0 && pos >= before) {
					t.Fatalf("hybrid rank %d with re-ranking, %d without", pos+1, before+1)
				}
			}
		})
	}
}

func TestPartialKeywordWeight(t *testing.T) {
	fx := searchtest.New(t)
	hash := local.NewEmbedder(0)
	m := &matcher{Embedder: hash}
	tests := []struct {
		name string
		emb  interface {
			Embed(context.Context, []string) ([][]float32, error)
			Dimension() int
			Model() string
		}
		set, want float64
	}{
		{"auto, hashed words", hash, 0, 1},
		{"auto, text matcher", m, 0, 0},
		{"set", m, 2, 2},
		{"none", hash, -1, 0},
	}
	// Posts sharing only some words of a query no post holds whole.
	const query = "кровососущие летучие мыши бегали на беговой дорожке"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := search.DefaultOptions()
			o.PartialWeight, o.Rerank, o.Candidates = tt.set, -1, 10
			s := search.New(fx.Pool, tt.emb, search.IndexVectors{Index: fx.Index}, o)
			if got := s.Options().PartialWeight; got != tt.want {
				t.Fatalf("partial weight %v, want %v", got, tt.want)
			}
			page, err := s.Search(context.Background(), search.Query{Text: query, Mode: search.Hybrid, Limit: 60})
			if err != nil {
				t.Fatal(err)
			}
			onlyKeyword := 0
			for _, r := range page.Results {
				if r.SemanticRank == 0 && r.KeywordRank > 0 {
					onlyKeyword++
					if r.Score == 0 {
						t.Fatalf("a post found only by some words scores 0 with partial weight %v", tt.want)
					}
				}
			}
			// With a weight, such posts make the first page.
			if tt.want > 0 && onlyKeyword == 0 {
				t.Fatal("no post found only by keyword: the query no longer tests partial matches")
			}
			// Without one they are not asked for: no post holds every
			// word, so no result on any page has a keyword rank (they used
			// to pad the last pages with score 0, in id order).
			for offset := 0; tt.want == 0 && offset < 1000; offset += 100 {
				page, err := s.Search(context.Background(), search.Query{Text: query, Mode: search.Hybrid, Limit: 100, Offset: offset})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page.Results {
					if r.KeywordRank > 0 {
						t.Fatalf("result %s has keyword rank %d with partial weight 0", r.PostID, r.KeywordRank)
					}
				}
				if page.NextCursor == "" {
					break
				}
			}
		})
	}
}

// The relevance floor with the offline embedder's word vectors, with and
// without a trained model (the cosine scale differs from the hashed
// words'): the posts nearest to queries about nothing in the sample are
// weaker matches, and the first result of most judged queries is not.
func TestRelevanceFloorWithWordVectors(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	set, err := search.ReadJudgedSet(filepath.Join(filepath.Dir(file), "..", "testdata", "search", "judged.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model bool
	}{
		{"model and word vectors", true},
		{"word vectors, no model (the default)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := searchtest.NewWith(t, func(posts []search.CorpusPost) ai.Embedder {
				words := local.WithWordVectors(local.DefaultWordVectors(), local.DefaultWordVectorShare)
				if !tt.model {
					return local.NewEmbedder(0, words)
				}
				m, err := search.TrainOnCorpus(posts, local.TrainOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return local.NewEmbedder(0, local.WithSemanticModel(m, local.DefaultSemanticShare), words)
			})
			ctx := context.Background()
			for _, q := range []string{"рецепт борща с пампушками", "расписание электричек до Твери", "ывапролд"} {
				page, err := fx.Service.Search(ctx, search.Query{Text: q, Mode: search.Semantic, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page.Results {
					if !r.Weak {
						t.Errorf("%q: %s (cosine %.3f) is not a weaker match", q, r.PostID, r.SemanticScore)
					}
				}
			}
			strong := 0
			for _, q := range set.Queries {
				page, err := fx.Service.Search(ctx, search.Query{Text: q.Query, Mode: search.Semantic, Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Results) > 0 && !page.Results[0].Weak {
					strong++
				}
			}
			if strong < len(set.Queries)*8/10 {
				t.Fatalf("the first result is a strong match for %d of %d judged queries", strong, len(set.Queries))
			}
			t.Logf("first result strong for %d of %d judged queries", strong, len(set.Queries))
		})
	}
}
