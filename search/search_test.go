package search_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/searchtest"
)

type fixture struct{ *searchtest.Fixture }

func newFixture(t *testing.T) *fixture { return &fixture{searchtest.New(t)} }

func (f *fixture) search(t *testing.T, q search.Query) []search.Result {
	t.Helper()
	page, err := f.Service.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return page.Results
}

func (f *fixture) rankOf(res []search.Result, sample int) int { return f.Rank(res, sample) }

func TestModesFindKnownPosts(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		query   string
		mode    search.Mode
		want    []int // sample positions that must be in the top `within`
		within  int
		signals string
	}{
		{"выборы президента Румынии", search.Keyword, []int{78}, 1, "keyword"},
		{"Starship", search.Keyword, []int{86}, 1, "keyword"},
		{`"прекращение огня" Ливан`, search.Keyword, []int{73, 74}, 2, "keyword"},
		{"Путин утвердил ядерную доктрину", search.Semantic, []int{87}, 3, "semantic"},
		{"прекращение огня в Ливане", search.Semantic, []int{73, 74}, 5, "semantic"},
		{"Израиль Хезболла прекращение огня", search.Hybrid, []int{73, 74}, 2, ""},
		{"импичмент президенту Южной Кореи", search.Hybrid, []int{57}, 1, ""},
	}
	for _, c := range cases {
		t.Run(string(c.mode)+"/"+c.query, func(t *testing.T) {
			res := f.search(t, search.Query{Text: c.query, Mode: c.mode, Limit: 10})
			for _, w := range c.want {
				r := f.rankOf(res, w)
				if r == 0 || r > c.within {
					t.Fatalf("sample post %d at rank %d, want within %d; got %v", w, r, c.within, ids(res))
				}
				if c.signals != "" && !slices.Contains(res[r-1].Signals, c.signals) {
					t.Fatalf("signals %v lack %s", res[r-1].Signals, c.signals)
				}
			}
		})
	}
	// Hybrid marks posts both lists found.
	res := f.search(t, search.Query{Text: "Израиль Хезболла прекращение огня", Limit: 3})
	if s := res[0].Signals; !slices.Contains(s, "keyword") || !slices.Contains(s, "semantic") {
		t.Fatalf("top hybrid result signals = %v, want keyword and semantic", s)
	}
	if res[0].KeywordRank == 0 || res[0].SemanticRank == 0 || res[0].SemanticScore <= 0 {
		t.Fatalf("ranks not reported: %+v", res[0])
	}
}

func ids(res []search.Result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.PostID[:8] + ":" + strings.Join(r.Signals, "+")
	}
	return out
}

// Russian inflection: a query in one form matches and highlights the
// others, and the snippet shows them as spelled in the post.
func TestSnippetsHighlightInflectedForms(t *testing.T) {
	f := newFixture(t)
	res := f.search(t, search.Query{Text: "выборы", Mode: search.Keyword, Limit: 20})
	r := f.rankOf(res, 78)
	if r == 0 {
		t.Fatalf("post about the Romanian election not found for «выборы»: %v", ids(res))
	}
	got := res[r-1]
	// The post says «на выборах» and «В выборах» — neither is «выборы».
	if !slices.ContainsFunc(got.Highlights, func(w string) bool { return strings.EqualFold(w, "выборах") }) {
		t.Fatalf("highlights %v lack the inflected «выборах»; snippet %q", got.Highlights, got.SnippetHTML)
	}
	if !strings.Contains(got.SnippetHTML, "<mark>выборах</mark>") {
		t.Fatalf("snippet html %q does not mark «выборах»", got.SnippetHTML)
	}
	if strings.ContainsAny(got.Snippet, "\uE000\uE001<") {
		t.Fatalf("plain snippet carries markers: %q", got.Snippet)
	}
	// A singular genitive query finds the plural, and the mark is on it.
	res = f.search(t, search.Query{Text: "дрона", Mode: search.Keyword, Limit: 50})
	if r := f.rankOf(res, 77); r == 0 || !slices.ContainsFunc(res[r-1].Highlights, func(w string) bool { return strings.EqualFold(w, "дронов") }) {
		t.Fatalf("«дрона» did not find/highlight «дронов» in post 77: %v", ids(res))
	}
	// English stemming on Latin words: "releases" matches "release".
	res = f.search(t, search.Query{Text: "candidates", Mode: search.Keyword, Limit: 50})
	for _, r := range res {
		if len(r.Highlights) == 0 {
			t.Fatalf("keyword result %s without a highlight: %q", r.PostID, r.Snippet)
		}
	}
	// Markup in a post never reaches snippet_html unescaped (ts_headline
	// drops HTML tags; the rest is escaped).
	if _, err := f.Pool.Exec(context.Background(), `UPDATE posts SET text = 'Тег <b>жирный</b> & «выборы»' WHERE post_id = $1`, f.IDs[0]); err != nil {
		t.Fatal(err)
	}
	res = f.search(t, search.Query{Text: "выборы", Mode: search.Keyword, Limit: 50})
	r = f.rankOf(res, 0)
	if r == 0 {
		t.Fatalf("edited post not found: %v", ids(res))
	}
	if h := res[r-1].SnippetHTML; strings.Contains(h, "<b>") || !strings.Contains(h, "&amp;") || !strings.Contains(h, "<mark>выборы</mark>") {
		t.Fatalf("snippet html %q: markup not escaped", h)
	}
}

// zeroEmbedder embeds every text as the zero vector, as a trained semantic
// model does for a text with no word of its vocabulary.
type zeroEmbedder struct{ dim int }

func (z zeroEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = make([]float32, z.dim)
	}
	return out, nil
}
func (z zeroEmbedder) Dimension() int { return z.dim }
func (z zeroEmbedder) Model() string  { return "zero" }

// TestQueryWithNothingToEmbed: a query the embedder turns into a zero vector
// finds nothing by meaning, and is no error in any mode; keyword matches
// still answer in hybrid.
func TestQueryWithNothingToEmbed(t *testing.T) {
	f := newFixture(t)
	svc := search.New(f.Pool, zeroEmbedder{f.Index.Dim()}, search.IndexVectors{Index: f.Index}, search.DefaultOptions())
	for _, mode := range []search.Mode{search.Semantic, search.Hybrid} {
		page, err := svc.Search(context.Background(), search.Query{Text: "биткоин", Mode: mode, Limit: 10})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if mode == search.Hybrid && len(page.Results) == 0 {
			t.Errorf("hybrid: the keyword matches of «биткоин» are gone with the zero query vector")
		}
	}
}

func TestWebsearchSyntax(t *testing.T) {
	f := newFixture(t)
	// Exclusion: posts that mention Lebanon are gone in every mode.
	for _, mode := range []search.Mode{search.Keyword, search.Semantic, search.Hybrid} {
		res := f.search(t, search.Query{Text: "Израиль прекращение огня -Ливан", Mode: mode, Limit: 50})
		if f.rankOf(res, 73) != 0 || f.rankOf(res, 74) != 0 {
			t.Fatalf("%s: excluded word ignored: %v", mode, ids(res))
		}
		if mode != search.Semantic && f.rankOf(res, 108) == 0 {
			t.Fatalf("%s: the Gaza ceasefire post (no Lebanon) is missing: %v", mode, ids(res))
		}
	}
	// OR widens, quotes narrow to the phrase.
	res := f.search(t, search.Query{Text: "Starship OR Хезболла", Mode: search.Keyword, Limit: 50})
	if f.rankOf(res, 86) == 0 || f.rankOf(res, 73) == 0 {
		t.Fatalf("OR did not return both: %v", ids(res))
	}
	// A plain multi-word query: posts with every word first, then posts
	// with some of them.
	res = f.search(t, search.Query{Text: "Хезболла прекращение огня Starship", Mode: search.Keyword, Limit: 50})
	if len(res) == 0 || f.rankOf(res, 86) == 0 || f.rankOf(res, 73) == 0 {
		t.Fatalf("partial matches missing: %v", ids(res))
	}
	res = f.search(t, search.Query{Text: "Хезболла прекращение огня", Mode: search.Keyword, Limit: 50})
	full := f.rankOf(res, 73)
	for _, r := range res[:full] {
		if !slices.Contains(r.Highlights, "огня") && !slices.ContainsFunc(r.Highlights, func(w string) bool { return strings.HasPrefix(strings.ToLower(w), "хезбол") }) {
			t.Fatalf("a partial match ranks above the full match 73: %v", ids(res))
		}
	}
	res = f.search(t, search.Query{Text: `"огня в Ливане"`, Mode: search.Keyword, Limit: 50})
	if f.rankOf(res, 73) == 0 || f.rankOf(res, 108) != 0 {
		t.Fatalf("phrase query: %v", ids(res))
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t)
	bbc := "-1001003921752"
	for _, mode := range []search.Mode{search.Keyword, search.Semantic, search.Hybrid} {
		res := f.search(t, search.Query{Text: "Путин Россия", Mode: mode, Channels: []string{bbc}, Limit: 50})
		if len(res) == 0 {
			t.Fatalf("%s: nothing in the BBC channel", mode)
		}
		for _, r := range res {
			if r.ChannelID != bbc {
				t.Fatalf("%s: channel filter let %s through", mode, r.ChannelID)
			}
		}
		since := time.Date(2024, 11, 15, 0, 0, 0, 0, time.UTC)
		until := time.Date(2024, 11, 20, 23, 59, 59, 0, time.UTC)
		res = f.search(t, search.Query{Text: "Путин Россия Украина", Mode: mode, Since: since, Until: until, Limit: 50})
		if len(res) == 0 {
			t.Fatalf("%s: nothing in the date range", mode)
		}
		for _, r := range res {
			if r.PostedAt.Before(since) || r.PostedAt.After(until) {
				t.Fatalf("%s: date filter let %s through", mode, r.PostedAt)
			}
		}
		res = f.search(t, search.Query{Text: "Путин", Mode: mode, TenantID: "nobody", Limit: 50})
		if len(res) != 0 {
			t.Fatalf("%s: tenant filter let %d posts through", mode, len(res))
		}
	}
	// Tags: every given tag must be on the post (case and ё folded).
	var tag string
	if err := f.Pool.QueryRow(context.Background(), `SELECT data->'tags'->>0 FROM post_enrichment WHERE post_id = $1 AND kind = 'tags'`, f.IDs[87]).Scan(&tag); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []search.Mode{search.Keyword, search.Semantic, search.Hybrid} {
		res := f.search(t, search.Query{Text: "Путин ядерная доктрина", Mode: mode, Tags: []string{strings.ToUpper(tag)}, Limit: 50})
		if f.rankOf(res, 87) == 0 {
			t.Fatalf("%s: tag %q filter lost its post: %v", mode, tag, ids(res))
		}
		for _, r := range res {
			if !slices.ContainsFunc(r.Tags, func(x string) bool { return strings.EqualFold(x, tag) }) {
				t.Fatalf("%s: post %s without tag %q (tags %v)", mode, r.PostID, tag, r.Tags)
			}
		}
		res = f.search(t, search.Query{Text: "Путин ядерная доктрина", Mode: mode, Tags: []string{tag, "нет-такого-тега"}, Limit: 50})
		if len(res) != 0 {
			t.Fatalf("%s: two tags, one absent, still matched %d", mode, len(res))
		}
	}
}

func TestExpiredPostsNeverReturned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := f.IDs[87]
	if _, err := f.Pool.Exec(ctx, `UPDATE posts SET expires_at = now() - interval '1 second' WHERE post_id = $1`, target); err != nil {
		t.Fatal(err)
	}
	// The vector index still holds it (cleanup has not run): PostgreSQL's
	// expiry check must drop it anyway.
	if _, ok := f.Index.Vector(target); !ok {
		t.Fatal("fixture: vector missing")
	}
	for _, mode := range []search.Mode{search.Keyword, search.Semantic, search.Hybrid} {
		res := f.search(t, search.Query{Text: "Путин утвердил новую ядерную доктрину", Mode: mode, Limit: 100})
		if f.rankOf(res, 87) != 0 {
			t.Fatalf("%s returned the expired post", mode)
		}
	}
	if _, err := f.Service.GetPost(ctx, target); err == nil {
		t.Fatal("GetPost returned the expired post")
	}
	page, err := f.Service.Similar(ctx, f.IDs[96], search.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if f.rankOf(page.Results, 87) != 0 {
		t.Fatal("Similar returned the expired post")
	}
	if _, err := f.Service.Similar(ctx, target, search.Query{Limit: 5}); err == nil {
		t.Fatal("Similar of an expired post answered")
	}
}

func TestCrawledPagesAndPost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := f.IDs[86]
	crawl := `{"pages":[{"url":"https://example.org/starship","final_url":"https://example.org/starship/","title":"Полёт Starship: подробности","markdown":"Бустер Super Heavy приводнился в Мексиканском заливе; гидролокаторы зафиксировали всплеск."}]}`
	if _, err := f.Pool.Exec(ctx, `UPDATE posts SET urls = '["https://example.org/starship"]' WHERE post_id = $1`, target); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pool.Exec(ctx, `INSERT INTO post_enrichment (post_id, kind, provider, data) VALUES ($1, 'crawl', 'builtin', $2)`, target, crawl); err != nil {
		t.Fatal(err)
	}
	// «гидролокаторами» occurs only in the crawled page, inflected.
	res := f.search(t, search.Query{Text: "гидролокаторами", Mode: search.Keyword, Limit: 5})
	if len(res) != 1 || res[0].PostID != target {
		t.Fatalf("crawl match: %v", ids(res))
	}
	if !slices.Equal(res[0].Signals, []string{"crawl"}) {
		t.Fatalf("signals = %v, want [crawl]", res[0].Signals)
	}
	if len(res[0].URLs) != 1 || res[0].URLs[0].Title != "Полёт Starship: подробности" || res[0].URLs[0].FinalURL == "" {
		t.Fatalf("urls = %+v", res[0].URLs)
	}
	p, err := f.Service.GetPost(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, e := range p.Enrichments {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []string{"crawl", "tags"}) || !strings.Contains(p.Text, "Starship") || len(p.Tags) == 0 {
		t.Fatalf("post = %+v (kinds %v)", p, kinds)
	}
	if _, err := f.Service.GetPost(ctx, "no-such-post"); err == nil {
		t.Fatal("unknown post found")
	}
}

func TestPaginationRelatedAndSimilar(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	q := search.Query{Text: "Россия Украина", Limit: 5}
	p1, err := f.Service.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if p1.NextCursor == "" || len(p1.Results) != 5 {
		t.Fatalf("first page: %d results, cursor %q", len(p1.Results), p1.NextCursor)
	}
	q.Cursor = p1.NextCursor
	p2, err := f.Service.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	all, err := f.Service.Search(ctx, search.Query{Text: "Россия Украина", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := append(slices.Clone(p1.Results), p2.Results...)
	for i := range all.Results {
		if got[i].PostID != all.Results[i].PostID {
			t.Fatalf("pages 1+2 differ from one page of 10 at %d", i)
		}
	}
	if _, err := f.Service.Search(ctx, search.Query{Text: "x", Cursor: "garbage!"}); err == nil {
		t.Fatal("bad cursor accepted")
	}
	if _, err := f.Service.Search(ctx, search.Query{Text: "x", Limit: 101}); err == nil {
		t.Fatal("limit 101 accepted")
	}

	sim, err := f.Service.Similar(ctx, f.IDs[73], search.Query{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.rankOf(sim.Results, 74) == 0 || f.rankOf(sim.Results, 73) != 0 {
		t.Fatalf("similar to the Lebanon ceasefire post: %v", ids(sim.Results))
	}

	var tag string
	if err := f.Pool.QueryRow(ctx, `
SELECT lower(g) FROM post_enrichment, jsonb_array_elements_text(data->'tags') g
WHERE kind = 'tags' GROUP BY lower(g) ORDER BY count(*) DESC, 1 LIMIT 1`).Scan(&tag); err != nil {
		t.Fatal(err)
	}
	rel, err := f.Service.RelatedTags(ctx, tag, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rel) == 0 {
		t.Fatalf("no tags related to the most common tag %q", tag)
	}
	// Check the top count against a direct count.
	var want int
	if err := f.Pool.QueryRow(ctx, `
SELECT count(DISTINCT a.post_id) FROM post_enrichment a, post_enrichment b
WHERE a.post_id = b.post_id AND a.kind = 'tags' AND b.kind = 'tags'
  AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.data->'tags') g WHERE translate(lower(g),'ё','е') = $1)
  AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(b.data->'tags') g WHERE translate(lower(g),'ё','е') = translate(lower($2),'ё','е'))`,
		tag, rel[0].Tag).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if rel[0].Posts != want || strings.EqualFold(rel[0].Tag, tag) {
		t.Fatalf("related[0] = %+v, direct count %d", rel[0], want)
	}
}
