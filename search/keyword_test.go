package search_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store/postgres"
)

// addCrawl stores a crawled page whose text is text for post id.
func (f *fixture) addCrawl(t *testing.T, id, text string) {
	t.Helper()
	doc := fmt.Sprintf(`{"pages":[{"url":"https://example.org/%s","title":"page","markdown":%q}]}`, id, text)
	if _, err := f.Pool.Exec(context.Background(),
		`INSERT INTO post_enrichment (post_id, kind, provider, data) VALUES ($1, 'crawl', 'builtin', $2)`, id, doc); err != nil {
		t.Fatalf("store crawl page of %s: %v", id, err)
	}
}

// TestKeywordCrawlMatchHonoursFilters: a post found only through its
// crawled page passes the same filters as a post found by its text.
func TestKeywordCrawlMatchHonoursFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := f.IDs[86]
	f.addCrawl(t, target, "Гидролокаторы зафиксировали всплеск.")
	var channel string
	if err := f.Pool.QueryRow(ctx, `SELECT channel_id FROM posts WHERE post_id = $1`, target).Scan(&channel); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		q     search.Query
		found bool
	}{
		{"no filter", search.Query{}, true},
		{"its channel", search.Query{Channels: []string{channel}}, true},
		{"another channel", search.Query{Channels: []string{channel + "-other"}}, false},
		{"another tenant", search.Query{TenantID: "no-such-tenant"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Text, c.q.Mode, c.q.Limit = "гидролокаторы", search.Keyword, 5
			res := f.search(t, c.q)
			if got := slices.ContainsFunc(res, func(r search.Result) bool { return r.PostID == target }); got != c.found {
				t.Fatalf("found = %v, want %v: %v", got, c.found, ids(res))
			}
		})
	}
	if _, err := f.Pool.Exec(ctx, `UPDATE posts SET expires_at = now() - interval '1 second' WHERE post_id = $1`, target); err != nil {
		t.Fatal(err)
	}
	if res := f.search(t, search.Query{Text: "гидролокаторы", Mode: search.Keyword, Limit: 5}); len(res) != 0 {
		t.Fatalf("expired post found through its crawled page: %v", ids(res))
	}
}

// TestKeywordOrderMatchesFullRanking: with few candidates, and crawled
// pages adding to some posts' scores, the keyword list is the head of the
// ranking of every match (text rank + crawl_weight × page rank, ties by
// id), computed here without any LIMIT before the sum.
func TestKeywordOrderMatchesFullRanking(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Pages on posts that match in their text and on posts that do not.
	for i, pos := range []int{3, 57, 73, 74, 86, 87, 120, 200, 301, 444} {
		text := "Президент России Путин; Украина и переговоры."
		if i%2 == 1 {
			text += " Путин, Путин, Путин: Украина, Украина."
		}
		f.addCrawl(t, f.IDs[pos], text)
	}
	opts := search.DefaultOptions()
	opts.Candidates = 5
	svc := search.New(f.Pool, nil, nil, opts)
	for _, text := range []string{"Путин", "Украина", "Путин Украина"} {
		t.Run(text, func(t *testing.T) {
			rows, err := f.Pool.Query(ctx, `
WITH q AS (SELECT regexp_replace(websearch_to_tsquery('russian', $1)::text, '(^|[ (!])''([^'']{4,})''', '\1''\2'':*', 'g')::tsquery AS q),
m AS (
  SELECT post_id, ts_rank_cd(search_tsv, q.q, 32) AS r FROM posts, q WHERE search_tsv @@ q.q
  UNION ALL
  SELECT post_id, ts_rank_cd(search_tsv, q.q, 32) * $2 FROM post_enrichment, q WHERE kind = 'crawl' AND search_tsv @@ q.q
)
SELECT m.post_id FROM m JOIN posts p USING (post_id) WHERE p.expires_at IS NULL OR p.expires_at > now()
GROUP BY m.post_id ORDER BY sum(r)::float8 DESC, m.post_id LIMIT 5`, text, opts.CrawlWeight)
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if len(want) < 5 {
				t.Fatalf("reference ranking has %d posts, want 5", len(want))
			}
			page, err := svc.Search(ctx, search.Query{Text: text, Mode: search.Keyword, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(page.Results))
			for i, r := range page.Results {
				got[i] = r.PostID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("keyword order\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestRUMRanksAsGIN: with the RUM index of search.rum, keyword pages are
// those of ranking every match through GIN while the matches fit the cap,
// and with a cap far below the matches only matches come back and a post
// matched in a crawled page is never lost. Turning it off drops the index.
// Without the extension on the server the test says so and skips.
func TestRUMRanksAsGIN(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got := search.New(f.Pool, nil, nil, search.DefaultOptions()).FullTextIndex(ctx); got != "gin" {
		t.Fatalf("before search.rum: full text ranks through %s", got)
	}
	st, err := postgres.EnsureSearchRUM(ctx, f.Pool, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unavailable != "" {
		t.Skipf("no RUM index: %s", st.Unavailable)
	}
	if st, err := postgres.EnsureSearchRUM(ctx, f.Pool, true); err != nil || !st.On {
		t.Fatalf("ensuring the RUM index again: %+v %v", st, err)
	}
	if got := f.Service.FullTextIndex(ctx); got != "rum" {
		t.Fatalf("with the RUM index: full text ranks through %s", got)
	}
	with := func(o search.Options) *search.Service {
		return search.New(f.Pool, nil, nil, o)
	}
	gin := search.DefaultOptions()
	gin.FullText = search.FullTextGIN
	ginSvc := with(gin)
	if got := ginSvc.FullTextIndex(ctx); got != "gin" {
		t.Fatalf("FullTextGIN service ranks through %s", got)
	}
	wide := search.DefaultOptions()
	wide.RUMCap = 100_000
	rumSvc := with(wide)
	queries := []string{"биткоин", "Израиль Хезболла прекращение огня", "Go release candidate", "ChatGPT", "нейросеть генерирует видео",
		"Путин визит в Казахстан", `"ядерной доктрины"`, "Трамп -Украина", "атомная OR электростанция"}
	page := func(svc *search.Service, q search.Query) string {
		p, err := svc.Search(ctx, q)
		if err != nil {
			t.Fatalf("%q: %v", q.Text, err)
		}
		var b []string
		for _, r := range p.Results {
			b = append(b, fmt.Sprintf("%s %.5f %v", r.PostID, r.Score, r.Signals))
		}
		return fmt.Sprint(b)
	}
	for _, text := range queries {
		for _, prefix := range []bool{false, true} {
			q := search.Query{Text: text, Mode: search.Keyword, Limit: 20, Prefix: prefix}
			if a, b := page(ginSvc, q), page(rumSvc, q); a != b {
				t.Errorf("%q prefix %v:\n gin %s\n rum %s", text, prefix, a, b)
			}
		}
	}

	// A cap of 3: only RUM's three best text matches are ranked, and a
	// post whose crawled page matches is there too.
	f.addCrawl(t, f.IDs[86], "ChatGPT написал этот текст")
	tiny := search.DefaultOptions()
	tiny.RUMCap = 3
	capped, err := with(tiny).Search(ctx, search.Query{Text: "ChatGPT", Mode: search.Keyword, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	full, err := ginSvc.Search(ctx, search.Query{Text: "ChatGPT", Mode: search.Keyword, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Results) <= 4 {
		t.Fatalf("ChatGPT matches %d posts: too few to cap", len(full.Results))
	}
	if len(capped.Results) > 4 || !slices.ContainsFunc(capped.Results, func(r search.Result) bool { return r.PostID == f.IDs[86] }) {
		t.Fatalf("capped at 3: %v (want at most 3 text matches plus the crawl match %s)", ids(capped.Results), f.IDs[86])
	}
	for _, r := range capped.Results {
		if !slices.ContainsFunc(full.Results, func(g search.Result) bool { return g.PostID == r.PostID }) {
			t.Fatalf("capped result %s is not a match at all", r.PostID)
		}
	}
	if st, err := postgres.EnsureSearchRUM(ctx, f.Pool, false); err != nil || st.On {
		t.Fatalf("search.rum off: %+v %v", st, err)
	}
	if got := search.New(f.Pool, nil, nil, search.DefaultOptions()).FullTextIndex(ctx); got != "gin" {
		t.Fatalf("after search.rum off: full text ranks through %s", got)
	}
}
