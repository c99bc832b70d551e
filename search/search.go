// Package search is the search service shared by `assistant search` and the
// HTTP API: keyword search (PostgreSQL full text over post text and crawled
// pages), semantic search (the configured embedder and vector store), and
// their fusion by weighted reciprocal rank (the default mode, hybrid). It
// also answers "related" questions: tags that co-occur with a tag, and posts
// similar to a post.
//
// Every answer honours the filters (channels, tags, dates, tenant) and never
// contains an expired post (posts.expires_at in the past), whichever store a
// candidate came from: the final rows are always read from PostgreSQL under
// the same conditions.
package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/search/vecindex"
)

// Mode selects the ranking.
type Mode string

// The modes.
const (
	Hybrid   Mode = "hybrid"
	Semantic Mode = "semantic"
	Keyword  Mode = "keyword"
)

// ParseMode accepts "" (hybrid) and the three mode names.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case "", Hybrid:
		return Hybrid, nil
	case Semantic:
		return Semantic, nil
	case Keyword:
		return Keyword, nil
	}
	return "", fmt.Errorf("unknown search mode %q (hybrid, semantic or keyword)", s)
}

// TSConfig is the text-search configuration of migration 00006: Russian
// Snowball for Cyrillic words, English Snowball for Latin ones.
const TSConfig = "russian"

// tsquery is the SQL of the query whose text is parameter ph: websearch
// syntax under TSConfig (words match by Snowball stem). When prefixPh is
// not empty it is a parameter holding an alternation of stems matched as
// prefixes (see keywordPlan).
func tsquery(ph, prefixPh string) string {
	if prefixPh == "" {
		return "websearch_to_tsquery('" + TSConfig + "', " + ph + ")"
	}
	return "regexp_replace(websearch_to_tsquery('" + TSConfig + "', " + ph + ")::text, '''(' || " + prefixPh +
		` || ')''', '''\1'':*', 'g')::tsquery`
}

// keywordPlan is how the words of a keyword query match.
type keywordPlan struct {
	// prefixes is an alternation of stems matched as prefixes ("" none):
	// the stems of capitalised words (Snowball stems a name's forms
	// inconsistently: «Ливан» → лива, «Ливане» → ливан) and, for a query
	// being typed, of its last word.
	prefixes string
	// guards are regular expressions of word forms a post must contain:
	// an adverb in -о with a short stem («резко» → резк) shares it with
	// unrelated words («резке», «резкий»), so only its own form matches.
	guards []string
	// plain are the words without a guard (the partial-match fallback
	// uses only these).
	plain []string
}

// planKeyword splits a plain query into its words and plans their
// matching; prefixLast: the last word is being typed.
func planKeyword(text string, prefixLast bool) keywordPlan {
	var p keywordPlan
	var prefixes []string
	fields := strings.Fields(text)
	quoted := strings.Contains(text, `"`)
	for i, f := range fields {
		if strings.EqualFold(f, "or") {
			p.plain = append(p.plain, f)
			continue
		}
		excluded := strings.HasPrefix(f, "-")
		words := strings.FieldsFunc(f, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		guarded := false
		for j, w := range words {
			folded := strings.Map(ai.FoldRune, w)
			stem := local.Stem(folded)
			if stem == "" || strings.ContainsAny(stem, `\'|()[]{}.*+?^$`) {
				continue
			}
			n := utf8.RuneCountInString(stem)
			last := i == len(fields)-1 && j == len(words)-1
			switch {
			case prefixLast && last && n >= 2:
				prefixes = append(prefixes, stem)
			case unicode.IsUpper([]rune(w)[0]) && n >= 4:
				prefixes = append(prefixes, stem)
			case !quoted && !excluded && n < 5 && folded == stem+"о":
				// An adverb in -о (резко) shares its stem with nouns and
				// adjectives (резке, резкий); other short stems keep
				// their forms together (дрона, дронов).
				p.guards = append(p.guards, `(^|[^[:alnum:]])`+formPattern(folded)+`($|[^[:alnum:]])`)
				guarded = true
			}
		}
		if !guarded || excluded {
			p.plain = append(p.plain, f)
		}
	}
	p.prefixes = strings.Join(prefixes, "|")
	return p
}

// formPattern is a case-insensitive (~*) pattern of a folded word that
// matches it spelled with ё too.
func formPattern(folded string) string {
	return strings.ReplaceAll(folded, "е", "[её]")
}

// Highlight markers ts_headline puts around matched words: private-use
// characters that never occur in posts, turned into markup (or removed)
// afterwards.
const (
	markStart = "\uE000"
	markStop  = "\uE001"
)

// Errors a caller maps to a client error.
var (
	ErrBadQuery = errors.New("bad query")
	ErrNotFound = errors.New("not found")
	// ErrNoVectors: a semantic answer was asked for without a vector store
	// or embedder configured.
	ErrNoVectors = errors.New("semantic search is not configured")
)

// Query is one search request.
type Query struct {
	Text     string
	Mode     Mode
	Channels []string
	// Tags: a post must carry every one (case-insensitive, ё = е).
	Tags     []string
	TenantID string
	// Since and Until bound posted_at, inclusive; zero = unbounded.
	Since, Until time.Time
	Limit        int
	Offset       int
	// Cursor, when set, replaces Offset (it is NextCursor of a page).
	Cursor string
	// Prefix: the query is being typed, so its last word also matches as a
	// prefix («подорож» finds «подорожала»).
	Prefix bool
}

// Link is a URL of a post with the title of its crawled page, if any.
type Link struct {
	URL      string `json:"url"`
	Title    string `json:"title,omitempty"`
	FinalURL string `json:"final_url,omitempty"`
}

// Result is one post of a page of results.
type Result struct {
	PostID    string    `json:"post_id"`
	ChannelID string    `json:"channel_id"`
	TenantID  string    `json:"tenant_id,omitempty"`
	PostedAt  time.Time `json:"posted_at"`
	// Score orders the page: ts_rank_cd (keyword), cosine (semantic), or
	// the fused reciprocal-rank score (hybrid).
	Score float64 `json:"score"`
	// Signals says which searches found the post: "keyword" (post text),
	// "crawl" (a crawled page), "semantic".
	Signals []string `json:"signals"`
	// KeywordRank and SemanticRank are the 1-based ranks in each list
	// (0: not in it); SemanticScore is the cosine similarity.
	KeywordRank   int     `json:"keyword_rank,omitempty"`
	SemanticRank  int     `json:"semantic_rank,omitempty"`
	SemanticScore float64 `json:"semantic_score,omitempty"`
	// Weak marks a weaker match: below the relevance floor (no post-text
	// or page match of every query word, and a cosine under
	// Options.MinSemanticScore). Weak results follow every strong one and
	// are shown apart.
	Weak bool `json:"weak,omitempty"`
	// Snippet is plain text; SnippetHTML is the same, HTML-escaped, with
	// matched words in <mark>; Highlights lists the matched words as they
	// are spelled in the post (inflected forms included).
	Snippet     string   `json:"snippet"`
	SnippetHTML string   `json:"snippet_html"`
	Highlights  []string `json:"highlights"`
	Tags        []string `json:"tags"`
	URLs        []Link   `json:"urls"`
}

// Page is one page of results.
type Page struct {
	Query   string   `json:"query"`
	Mode    Mode     `json:"mode"`
	Results []Result `json:"results"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string  `json:"next_cursor,omitempty"`
	TookMS     float64 `json:"took_ms"`
}

// VectorFilter is what a vector store filters by itself (Qdrant payload
// filters, the in-memory index's metadata); expiry is always applied.
type VectorFilter struct {
	Channels     []string
	TenantID     string
	Since, Until time.Time
	Now          time.Time
}

// VectorHit is one nearest neighbour.
type VectorHit struct {
	PostID string
	Score  float64
}

// Vectors is the read side of a vector store that search needs.
type Vectors interface {
	// Nearest returns up to k posts nearest to vec, best first.
	Nearest(ctx context.Context, vec []float32, k int, f VectorFilter) ([]VectorHit, error)
	// VectorOf returns the stored vector of a post (false when none).
	VectorOf(ctx context.Context, postID string) ([]float32, bool, error)
}

// Options tunes ranking and limits.
type Options struct {
	// RRFK is the k of reciprocal-rank fusion: score = Σ w/(k + rank).
	RRFK float64
	// KeywordWeight and SemanticWeight weigh the two lists in the fusion.
	KeywordWeight, SemanticWeight float64
	// CrawlWeight scales the rank of a match in a crawled page relative to
	// a match in the post text.
	CrawlWeight float64
	// Candidates is how many posts each list contributes to the fusion (at
	// least offset+limit).
	Candidates int
	// MaxLimit caps Query.Limit.
	MaxLimit int
	// MinSemanticScore is the relevance floor of a post found only by
	// meaning (or by some of the query's words): under this cosine it is a
	// weaker match (Result.Weak). 0 = the default for the local embedder;
	// negative = no floor.
	MinSemanticScore float64
	// FullText picks how keyword matches are ranked: FullTextAuto (""),
	// through the RUM index of posts when the database has one
	// (search.rum, postgres.EnsureSearchRUM), else GIN; FullTextGIN ranks
	// every match (the reference).
	FullText string
	// RUMCap is how many matches the RUM index hands over, in its own
	// rank order, for ts_rank_cd to order (default 4 × the candidates).
	RUMCap int
	// Rerank is how many of the nearest posts are re-ranked by the
	// embedder's text matching (ai.TextMatcher: the local embedder with
	// word vectors), by cosine + RerankWeight × match score. 0 = the
	// default (DefaultRerank); negative = none.
	Rerank       int
	RerankWeight float64
	// PartialWeight scales, in the hybrid fusion, the keyword ranking's
	// weight for posts matching only some of the query's words. 0 = auto:
	// none with an embedder that matches texts (ai.TextMatcher: its
	// ranking of posts sharing some words is the better one), 1 otherwise;
	// negative = none. With none, hybrid search does not ask for them.
	PartialWeight float64
}

// DefaultRerank and DefaultRerankWeight were chosen on
// testdata/search/paraphrase-tuning.json and paraphrase-tuning2.json
// (docs/search.md).
const (
	DefaultRerank       = 50
	DefaultRerankWeight = 1.0
)

// The full-text strategies (Options.FullText).
const (
	FullTextAuto = ""
	FullTextGIN  = "gin"
)

// DefaultOptions are the tuned defaults (see testdata/search/README.md for
// how they were measured).
func DefaultOptions() Options {
	return Options{RRFK: 60, KeywordWeight: 1, SemanticWeight: 1, CrawlWeight: 0.5, Candidates: 100, MaxLimit: 100,
		MinSemanticScore: DefaultMinSemanticScore, Rerank: DefaultRerank, RerankWeight: DefaultRerankWeight}
}

// Service answers searches. Safe for concurrent use.
type Service struct {
	pool     *pgxpool.Pool
	embedder ai.Embedder
	vectors  Vectors
	opts     Options
	now      func() time.Time

	rumOnce sync.Once
	// rumOp is the RUM distance operator, schema-qualified, when posts
	// has a valid RUM index and FullText allows it; else "".
	rumOp string
}

// rumOperator finds, once, whether posts has a RUM index and which schema
// holds the extension's operator (it is usually not on the search path).
func (s *Service) rumOperator(ctx context.Context) string {
	if s.opts.FullText == FullTextGIN {
		return ""
	}
	s.rumOnce.Do(func() {
		var schema string
		err := s.pool.QueryRow(ctx, `
SELECT n.nspname FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam AND a.amname = 'rum'
JOIN pg_extension e ON e.extname = 'rum'
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE i.indrelid = 'posts'::regclass AND i.indisvalid LIMIT 1`).Scan(&schema)
		if err == nil {
			s.rumOp = "OPERATOR(" + pgx.Identifier{schema}.Sanitize() + ".<=>)"
		}
	})
	return s.rumOp
}

// FullTextIndex says which index ranks keyword matches: "rum" or "gin".
func (s *Service) FullTextIndex(ctx context.Context) string {
	if s.rumOperator(ctx) != "" {
		return "rum"
	}
	return "gin"
}

// New returns a service over PostgreSQL. embedder and vectors may be nil:
// then only keyword search works (semantic and hybrid report ErrNoVectors
// and fall back to keyword respectively).
func New(pool *pgxpool.Pool, embedder ai.Embedder, vectors Vectors, opts Options) *Service {
	def := DefaultOptions()
	if opts.RRFK <= 0 {
		opts.RRFK = def.RRFK
	}
	if opts.KeywordWeight < 0 || opts.SemanticWeight < 0 || (opts.KeywordWeight == 0 && opts.SemanticWeight == 0) {
		opts.KeywordWeight, opts.SemanticWeight = def.KeywordWeight, def.SemanticWeight
	}
	if opts.CrawlWeight <= 0 {
		opts.CrawlWeight = def.CrawlWeight
	}
	if opts.Candidates <= 0 {
		opts.Candidates = def.Candidates
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = def.MaxLimit
	}
	if opts.MinSemanticScore == 0 {
		opts.MinSemanticScore = def.MinSemanticScore
	}
	if opts.RUMCap <= 0 {
		opts.RUMCap = 4 * opts.Candidates
	}
	if opts.Rerank == 0 {
		opts.Rerank = def.Rerank
	}
	if opts.RerankWeight <= 0 {
		opts.RerankWeight = def.RerankWeight
	}
	switch m, ok := embedder.(ai.TextMatcher); {
	case opts.PartialWeight < 0:
		opts.PartialWeight = 0
	case opts.PartialWeight > 0:
	case ok && m.MatchesTexts():
		opts.PartialWeight = 0
	default:
		opts.PartialWeight = 1
	}
	return &Service{pool: pool, embedder: embedder, vectors: vectors, opts: opts, now: time.Now}
}

// Options returns the service's effective options.
func (s *Service) Options() Options { return s.opts }

// Semantic reports whether semantic search is configured.
func (s *Service) Semantic() bool { return s.embedder != nil && s.vectors != nil }

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "o:") {
		return 0, fmt.Errorf("%w: invalid cursor", ErrBadQuery)
	}
	n, err := strconv.Atoi(string(b[2:]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: invalid cursor", ErrBadQuery)
	}
	return n, nil
}

// normalizeQuery validates q and fills defaults.
func (s *Service) normalizeQuery(q *Query) error {
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" {
		return fmt.Errorf("%w: empty query", ErrBadQuery)
	}
	if q.Mode == "" {
		q.Mode = Hybrid
	}
	if _, err := ParseMode(string(q.Mode)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	if q.Limit <= 0 {
		q.Limit = 10
	}
	if q.Limit > s.opts.MaxLimit {
		return fmt.Errorf("%w: limit %d is over the maximum %d", ErrBadQuery, q.Limit, s.opts.MaxLimit)
	}
	if q.Cursor != "" {
		off, err := decodeCursor(q.Cursor)
		if err != nil {
			return err
		}
		q.Offset = off
	}
	if q.Offset < 0 {
		return fmt.Errorf("%w: negative offset", ErrBadQuery)
	}
	if q.Offset > 10000 {
		return fmt.Errorf("%w: offset %d is over the maximum 10000", ErrBadQuery, q.Offset)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return fmt.Errorf("%w: until is before since", ErrBadQuery)
	}
	return nil
}

// parsedText splits a websearch-syntax query into the text to embed (quotes,
// OR and -exclusions removed) and the excluded words.
func parsedText(q string) (embed string, excluded []string) {
	var keep []string
	inQuote := false
	for _, f := range strings.FieldsFunc(q, unicode.IsSpace) {
		startsQuote := strings.HasPrefix(f, `"`)
		if !inQuote && strings.HasPrefix(f, "-") && len(f) > 1 {
			excluded = append(excluded, strings.Trim(f[1:], `"`))
			continue
		}
		if startsQuote {
			inQuote = true
		}
		if strings.HasSuffix(f, `"`) && (len(f) > 1 || !startsQuote) {
			inQuote = false
		}
		w := strings.Trim(f, `"`)
		if w == "" || (!inQuote && strings.EqualFold(w, "or")) {
			continue
		}
		keep = append(keep, w)
	}
	return strings.Join(keep, " "), excluded
}

// filterSQL appends the conditions of q on posts alias p to args and
// returns them joined by AND. Expired posts are always excluded.
func filterSQL(q *Query, args *[]any, excluded []string) string {
	add := func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	}
	conds := []string{"(p.expires_at IS NULL OR p.expires_at > now())"}
	if len(q.Channels) > 0 {
		conds = append(conds, "p.channel_id = ANY("+add(q.Channels)+"::text[])")
	}
	if q.TenantID != "" {
		conds = append(conds, "p.tenant_id = "+add(q.TenantID))
	}
	if !q.Since.IsZero() {
		conds = append(conds, "p.posted_at >= "+add(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "p.posted_at <= "+add(q.Until))
	}
	if len(q.Tags) > 0 {
		tags := make([]string, 0, len(q.Tags))
		seen := map[string]bool{}
		for _, t := range q.Tags {
			t = foldTag(t)
			if t != "" && !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		if len(tags) > 0 {
			ph := add(tags)
			conds = append(conds, `(SELECT count(DISTINCT translate(lower(g), 'ё', 'е'))
  FROM post_enrichment te, jsonb_array_elements_text(te.data->'tags') g
  WHERE te.post_id = p.post_id AND te.kind = 'tags'
    AND translate(lower(g), 'ё', 'е') = ANY(`+ph+`::text[])) = cardinality(`+ph+`::text[])`)
		}
	}
	if len(excluded) > 0 {
		text := strings.Join(excluded, " or ")
		ph := add(text)
		if prefixes := planKeyword(text, false).prefixes; prefixes != "" {
			conds = append(conds, "NOT (p.search_tsv @@ "+tsquery(ph, add(prefixes))+")")
		} else {
			conds = append(conds, "NOT (p.search_tsv @@ "+tsquery(ph, "")+")")
		}
	}
	return strings.Join(conds, " AND ")
}

func foldTag(t string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(t)), "ё", "е")
}

type ranked struct {
	id      string
	score   float64
	crawl   bool // matched in a crawled page
	text    bool // matched in the post text
	cosine  float64
	keyRank int
	semRank int
	// partial: matched only some of the query's words.
	partial bool
	weak    bool
}

// keywordCandidates ranks posts by full-text match of the text and crawled
// pages; with partial, posts matching only some of the query's words follow.
func (s *Service) keywordCandidates(ctx context.Context, q *Query, n int, partial bool) ([]ranked, error) {
	plan := planKeyword(q.Text, q.Prefix)
	out, err := s.keywordQuery(ctx, q, q.Text, plan.prefixes, plan.guards, n, nil)
	if err != nil {
		return nil, err
	}
	// Every word must match (websearch AND). When that finds fewer than n
	// posts for a plain multi-word query, posts matching only some of the
	// words follow, ranked below every full match.
	// Words matched by their own form only (guards) are left out of it.
	if words := plan.plain; partial && len(out) < n && len(strings.Fields(q.Text)) > 1 && len(words) > 0 && !strings.ContainsAny(q.Text, `"-`) &&
		!slices.ContainsFunc(words, func(w string) bool { return strings.EqualFold(w, "or") }) {
		seen := make([]string, len(out))
		for i, c := range out {
			seen[i] = c.id
		}
		more, err := s.keywordQuery(ctx, q, strings.Join(words, " or "), plan.prefixes, nil, n-len(out), seen)
		if err != nil {
			return nil, err
		}
		for i := range more {
			more[i].partial = true
		}
		out = append(out, more...)
	}
	for i := range out {
		out[i].keyRank = i + 1
	}
	return out, nil
}

// keywordQuery ranks posts matching the websearch query text (post text and
// crawled pages), leaving out the posts in skip.
func (s *Service) keywordQuery(ctx context.Context, q *Query, text, prefixes string, guards []string, n int, skip []string) ([]ranked, error) {
	args := []any{text, s.opts.CrawlWeight, n, skip, prefixes}
	where := filterSQL(q, &args, nil)
	textGuard, crawlGuard := "", ""
	for _, g := range guards {
		args = append(args, g)
		ph := "$" + strconv.Itoa(len(args))
		textGuard += " AND p.text ~* " + ph
		crawlGuard += " AND e.data::text ~* " + ph
	}
	// The filters apply where a match is read: joining every match back to
	// posts after the UNION cost one index lookup per matching row (at 100k
	// posts a query matching 7,000 posts spent a quarter of its time
	// there). Of the post-text matches only the top n, and those of posts
	// with a crawl match too, reach the sum: any other post sums no more
	// than each of those n (ties ordered by id in both places), so the
	// answer is the same while the GROUP BY sorts n rows plus the crawl
	// matches instead of every match.
	//
	// Ranking every text match reads every matching tsvector (at 100k
	// posts a word in 1,200 posts spent most of its 40 ms there). With a
	// RUM index, which keeps word positions and hands matches over in its
	// own rank order (close to ts_rank's), only its best RUMCap matches
	// are ranked by ts_rank_cd; the text matches of crawl-matched posts
	// are read apart, so none of those is lost.
	textSQL := `
t AS (
  SELECT p.post_id, ts_rank_cd(p.search_tsv, q.q, 32) AS r
  FROM posts p, q
  WHERE p.search_tsv @@ q.q AND NOT (p.post_id = ANY(coalesce($4::text[], '{}'))) AND ` + where + textGuard + `
),`
	textOfCrawled := `SELECT t.post_id, t.r, false FROM t WHERE t.post_id IN (SELECT c.post_id FROM c)`
	if op := s.rumOperator(ctx); op != "" {
		args = append(args, s.opts.RUMCap)
		qexpr := `(CASE WHEN $5 = '' THEN ` + tsquery("$1", "") + ` ELSE ` + tsquery("$1", "$5") + ` END)`
		textSQL = `
t AS (
  SELECT p.post_id, ts_rank_cd(p.search_tsv, q.q, 32) AS r
  FROM (SELECT p.post_id, p.search_tsv FROM posts p
        WHERE p.search_tsv @@ ` + qexpr + ` AND NOT (p.post_id = ANY(coalesce($4::text[], '{}'))) AND ` + where + textGuard + `
        ORDER BY p.search_tsv ` + op + ` ` + qexpr + ` LIMIT $` + strconv.Itoa(len(args)) + `) p, q
),
tc AS (
  SELECT p.post_id, ts_rank_cd(p.search_tsv, q.q, 32) AS r
  FROM posts p, q
  WHERE p.post_id IN (SELECT c.post_id FROM c) AND p.search_tsv @@ q.q
    AND NOT (p.post_id = ANY(coalesce($4::text[], '{}'))) AND ` + where + textGuard + `
),`
		textOfCrawled = `SELECT tc.post_id, tc.r, false FROM tc`
	}
	rows, err := s.pool.Query(ctx, `
WITH q AS (SELECT CASE WHEN $5 = '' THEN `+tsquery("$1", "")+` ELSE `+tsquery("$1", "$5")+` END AS q),
c AS (
  SELECT e.post_id, ts_rank_cd(e.search_tsv, q.q, 32) * $2 AS r
  FROM post_enrichment e JOIN posts p ON p.post_id = e.post_id, q
  WHERE e.kind = 'crawl' AND e.search_tsv @@ q.q AND NOT (e.post_id = ANY(coalesce($4::text[], '{}'))) AND `+where+crawlGuard+`
),`+textSQL+`
m AS (
  (SELECT t.post_id, t.r, false AS crawl FROM t ORDER BY t.r DESC, t.post_id LIMIT $3)
  UNION
  `+textOfCrawled+`
  UNION ALL
  SELECT c.post_id, c.r, true FROM c
)
SELECT m.post_id, sum(m.r)::float8, bool_or(m.crawl), bool_or(NOT m.crawl)
FROM m
GROUP BY m.post_id
ORDER BY 2 DESC, 1
LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ranked, error) {
		var c ranked
		err := r.Scan(&c.id, &c.score, &c.crawl, &c.text)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	return out, nil
}

// semanticCandidates embeds the query text and asks the vector store, then
// keeps, in order, the posts that pass every filter in PostgreSQL.
func (s *Service) semanticCandidates(ctx context.Context, q *Query, n int) ([]ranked, error) {
	if !s.Semantic() {
		return nil, ErrNoVectors
	}
	text, excluded := parsedText(q.Text)
	if text == "" {
		return nil, nil
	}
	vecs, err := s.embedder.Embed(ctx, []string{text})
	if err != nil {
		return nil, fmt.Errorf("embed query: %w", err)
	}
	if len(vecs) != 1 {
		return nil, fmt.Errorf("embed query: %d vectors for one text", len(vecs))
	}
	if vecindex.IsZero(vecs[0]) {
		// Nothing in the query to embed (short words, emoji with the local
		// embedder): no direction, so no post is near it; keyword matches,
		// if any, still answer.
		return nil, nil
	}
	out, err := s.nearest(ctx, q, vecs[0], n, excluded, "")
	if err != nil {
		return nil, err
	}
	return s.rerank(ctx, text, out)
}

// rerank re-orders the first Options.Rerank of the nearest posts by cosine
// + RerankWeight × the embedder's match score of their texts, when the
// embedder matches texts (ai.TextMatcher). The match score is not negative,
// so the re-ranked posts still score at least as high as the ones after.
func (s *Service) rerank(ctx context.Context, query string, list []ranked) ([]ranked, error) {
	m, ok := s.embedder.(ai.TextMatcher)
	if !ok || !m.MatchesTexts() || s.opts.Rerank < 0 || len(list) < 2 {
		return list, nil
	}
	head := list[:min(s.opts.Rerank, len(list))]
	ids := make([]string, len(head))
	for i, r := range head {
		ids[i] = r.id
	}
	rows, err := s.pool.Query(ctx, `SELECT post_id, coalesce(text, '') FROM posts WHERE post_id = ANY($1::text[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("re-rank: read posts: %w", err)
	}
	byID := map[string]string{}
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			rows.Close()
			return nil, fmt.Errorf("re-rank: read posts: %w", err)
		}
		byID[id] = text
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("re-rank: read posts: %w", err)
	}
	texts := make([]string, len(head))
	for i, r := range head {
		texts[i] = byID[r.id]
	}
	scores, err := m.MatchTexts(ctx, query, texts)
	if err != nil {
		return nil, fmt.Errorf("re-rank: %w", err)
	}
	if len(scores) != len(head) {
		return list, nil
	}
	for i := range head {
		head[i].score = head[i].cosine + s.opts.RerankWeight*max(scores[i], 0)
	}
	sort.SliceStable(head, func(i, j int) bool { return head[i].score > head[j].score })
	for i := range list {
		list[i].semRank = i + 1
	}
	return list, nil
}

// nearest asks the vector store for n posts near vec (more when filters
// only PostgreSQL can apply will drop some) and filters them there.
func (s *Service) nearest(ctx context.Context, q *Query, vec []float32, n int, excluded []string, skip string) ([]ranked, error) {
	k := n
	if len(q.Tags) > 0 || len(excluded) > 0 {
		k = n * 10
	}
	if skip != "" {
		k++
	}
	hits, err := s.vectors.Nearest(ctx, vec, k, VectorFilter{
		Channels: q.Channels, TenantID: q.TenantID, Since: q.Since, Until: q.Until, Now: s.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	ids := make([]string, 0, len(hits))
	for _, h := range hits {
		if h.PostID != skip {
			ids = append(ids, h.PostID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{ids}
	where := filterSQL(q, &args, excluded)
	rows, err := s.pool.Query(ctx, `SELECT p.post_id FROM posts p WHERE p.post_id = ANY($1::text[]) AND `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("filter vector hits: %w", err)
	}
	ok, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("filter vector hits: %w", err)
	}
	pass := make(map[string]bool, len(ok))
	for _, id := range ok {
		pass[id] = true
	}
	var out []ranked
	for _, h := range hits {
		if pass[h.PostID] && h.PostID != skip {
			out = append(out, ranked{id: h.PostID, score: h.Score, cosine: h.Score, semRank: len(out) + 1})
			if len(out) == n {
				break
			}
		}
	}
	return out, nil
}

// fuse merges the two lists by weighted reciprocal rank.
func (s *Service) fuse(kw, sem []ranked) []ranked {
	by := map[string]*ranked{}
	var order []*ranked
	get := func(id string) *ranked {
		if r, ok := by[id]; ok {
			return r
		}
		r := &ranked{id: id}
		by[id] = r
		order = append(order, r)
		return r
	}
	for _, c := range kw {
		r := get(c.id)
		r.keyRank, r.crawl, r.text, r.partial = c.keyRank, c.crawl, c.text, c.partial
		w := s.opts.KeywordWeight
		if c.partial {
			w *= s.opts.PartialWeight
		}
		r.score += w / (s.opts.RRFK + float64(c.keyRank))
	}
	for _, c := range sem {
		r := get(c.id)
		r.semRank, r.cosine = c.semRank, c.cosine
		r.score += s.opts.SemanticWeight / (s.opts.RRFK + float64(c.semRank))
	}
	out := make([]ranked, len(order))
	for i, r := range order {
		out[i] = *r
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		return out[i].id < out[j].id
	})
	return out
}

// Search answers one query.
func (s *Service) Search(ctx context.Context, q Query) (*Page, error) {
	start := time.Now()
	if err := s.normalizeQuery(&q); err != nil {
		return nil, err
	}
	n := max(s.opts.Candidates, q.Offset+q.Limit+1)
	var list []ranked
	switch q.Mode {
	case Keyword:
		kw, err := s.keywordCandidates(ctx, &q, n, true)
		if err != nil {
			return nil, err
		}
		list = kw
	case Semantic:
		sem, err := s.semanticCandidates(ctx, &q, n)
		if err != nil {
			return nil, err
		}
		list = sem
	default:
		// The two rankings are independent: fetch them concurrently.
		// Partial keyword matches are not asked for when they weigh
		// nothing in the fusion (PartialWeight 0, the default with an
		// embedder that matches texts): ranking them was the slowest part
		// of a multi-word query, and they only padded the page's end with
		// score-0 posts in id order.
		var kw, sem []ranked
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			kw, err = s.keywordCandidates(gctx, &q, n, s.opts.PartialWeight > 0)
			return err
		})
		if s.Semantic() {
			g.Go(func() (err error) {
				sem, err = s.semanticCandidates(gctx, &q, n)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		list = s.fuse(kw, sem)
	}
	list = s.applyFloor(list, q.Mode)
	page := &Page{Query: q.Text, Mode: q.Mode, Results: []Result{}}
	if q.Offset < len(list) {
		end := min(q.Offset+q.Limit, len(list))
		res, err := s.hydrate(ctx, q.Text, planKeyword(q.Text, q.Prefix).prefixes, list[q.Offset:end])
		if err != nil {
			return nil, err
		}
		page.Results = res
		if end < len(list) {
			page.NextCursor = encodeCursor(end)
		}
	}
	page.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return page, nil
}

// DefaultMinSemanticScore is the relevance floor for the local embedder with
// a trained semantic model, tuned on testdata/search/paraphrase-tuning.json
// (docs/search.md).
const DefaultMinSemanticScore = 0.35

// applyFloor marks the weaker matches — no match of every query word in the
// post or a crawled page, and a cosine under the floor (or none) — and moves
// them after the strong ones, keeping each group's order. Keyword mode
// knows no cosine: its partial matches are the weaker ones.
func (s *Service) applyFloor(list []ranked, mode Mode) []ranked {
	if s.opts.MinSemanticScore < 0 {
		return list
	}
	strong := make([]ranked, 0, len(list))
	var weak []ranked
	for _, r := range list {
		fullKeyword := r.keyRank > 0 && !r.partial
		if fullKeyword || (r.semRank > 0 && r.cosine >= s.opts.MinSemanticScore) {
			strong = append(strong, r)
			continue
		}
		r.weak = true
		weak = append(weak, r)
	}
	return append(strong, weak...)
}

// hydrate reads the page's posts with snippets, tags and links, keeping the
// order of list. A post that disappeared (or expired) in between is left
// out.
func (s *Service) hydrate(ctx context.Context, query, prefixes string, list []ranked) ([]Result, error) {
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.id
	}
	headline := "StartSel=" + markStart + ", StopSel=" + markStop +
		", MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=\" … \""
	rows, err := s.pool.Query(ctx, `
WITH q AS (SELECT CASE WHEN $4 = '' THEN `+tsquery("$2", "")+` ELSE `+tsquery("$2", "$4")+` END AS q)
SELECT p.post_id, coalesce(p.channel_id, ''), coalesce(p.tenant_id, ''), p.posted_at,
       ts_headline('`+TSConfig+`', coalesce(p.text, ''), q.q, $3),
       coalesce(t.data->'tags', '[]'::jsonb), coalesce(p.urls, '[]'::jsonb),
       (SELECT jsonb_agg(jsonb_build_object('url', o->>'url', 'title', o->>'title', 'final_url', o->>'final_url'))
          FROM jsonb_path_query(c.data, 'strict $.** ? (@.url.type() == "string")') o)
FROM posts p CROSS JOIN q
LEFT JOIN post_enrichment t ON t.post_id = p.post_id AND t.kind = 'tags'
LEFT JOIN post_enrichment c ON c.post_id = p.post_id AND c.kind = 'crawl'
WHERE p.post_id = ANY($1::text[]) AND (p.expires_at IS NULL OR p.expires_at > now())`,
		ids, query, headline, prefixes)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer rows.Close()
	got := map[string]*Result{}
	for rows.Next() {
		var (
			r                  Result
			postedAt           *time.Time
			head               string
			tags, urls, crawls []byte
		)
		if err := rows.Scan(&r.PostID, &r.ChannelID, &r.TenantID, &postedAt, &head, &tags, &urls, &crawls); err != nil {
			return nil, fmt.Errorf("read results: %w", err)
		}
		if postedAt != nil {
			r.PostedAt = postedAt.UTC()
		}
		r.Snippet, r.SnippetHTML, r.Highlights = renderHeadline(head)
		r.Tags = []string{}
		_ = json.Unmarshal(tags, &r.Tags)
		r.URLs = links(urls, crawls)
		got[r.PostID] = &r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	out := make([]Result, 0, len(list))
	for _, c := range list {
		r, ok := got[c.id]
		if !ok {
			continue
		}
		r.Score = c.score
		r.KeywordRank, r.SemanticRank, r.SemanticScore = c.keyRank, c.semRank, c.cosine
		r.Weak = c.weak
		r.Signals = []string{}
		if c.keyRank > 0 && (c.text || !c.crawl) {
			r.Signals = append(r.Signals, "keyword")
		}
		if c.crawl {
			r.Signals = append(r.Signals, "crawl")
		}
		if c.semRank > 0 {
			r.Signals = append(r.Signals, "semantic")
		}
		out = append(out, *r)
	}
	return out, nil
}

// renderHeadline turns ts_headline output with the private markers into a
// plain snippet, an escaped HTML snippet with <mark>, and the marked words.
func renderHeadline(h string) (plain, htm string, words []string) {
	h = strings.Join(strings.Fields(h), " ")
	var p, m strings.Builder
	words = []string{}
	seen := map[string]bool{}
	for {
		i := strings.Index(h, markStart)
		if i < 0 {
			break
		}
		p.WriteString(h[:i])
		m.WriteString(html.EscapeString(h[:i]))
		h = h[i+len(markStart):]
		j := strings.Index(h, markStop)
		if j < 0 {
			j = len(h)
		}
		w := h[:j]
		p.WriteString(w)
		m.WriteString("<mark>" + html.EscapeString(w) + "</mark>")
		if !seen[strings.ToLower(w)] {
			seen[strings.ToLower(w)] = true
			words = append(words, w)
		}
		h = strings.TrimPrefix(h[j:], markStop)
	}
	p.WriteString(h)
	m.WriteString(html.EscapeString(h))
	return p.String(), m.String(), words
}

// links pairs the post's URLs with the titles of their crawled pages.
func links(urlsJSON, crawlJSON []byte) []Link {
	var urls []string
	_ = json.Unmarshal(urlsJSON, &urls)
	var pages []Link
	if crawlJSON != nil {
		_ = json.Unmarshal(crawlJSON, &pages)
	}
	byURL := map[string]Link{}
	for _, pg := range pages {
		if _, ok := byURL[pg.URL]; !ok || pg.Title != "" {
			byURL[pg.URL] = pg
		}
	}
	out := make([]Link, 0, len(urls)+len(pages))
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			continue
		}
		seen[u] = true
		l := Link{URL: u}
		if pg, ok := byURL[u]; ok {
			l.Title, l.FinalURL = pg.Title, pg.FinalURL
		}
		out = append(out, l)
	}
	// Pages crawled under a normalised URL the post spells differently.
	for _, pg := range pages {
		if !seen[pg.URL] {
			seen[pg.URL] = true
			out = append(out, pg)
		}
	}
	return out
}
