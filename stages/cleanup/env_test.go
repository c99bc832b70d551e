package cleanup_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// env is one test's stores: a private PostgreSQL schema (migrated), a
// private Redis prefix, and a vector store (the embedded one unless the
// test swaps in the Qdrant fake) and the embedded graph store.
type env struct {
	ctx    context.Context
	dbURL  string
	pool   *pgxpool.Pool
	rdb    *redis.Client
	prefix string
	vec    store.VectorStore
	graph  store.GraphStore
	reg    *prometheus.Registry
	now    time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	vec, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, dbURL: dbURL, pool: pool, rdb: rdb, prefix: prefix, vec: vec,
		graph: postgres.NewGraphStore(pool), reg: prometheus.NewRegistry(), now: time.Now().UTC()}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (e *env) cleaner(t testing.TB, cfg cleanup.Config, logger *slog.Logger) *cleanup.Cleaner {
	t.Helper()
	if logger == nil {
		logger = quietLogger()
	}
	m, err := cleanup.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cleanup.NewCleaner(cleanup.Options{Pool: e.pool, Vectors: e.vec, Graph: e.graph, Redis: e.rdb,
		Prefix: e.prefix, Collection: "posts", Config: cfg, Logger: logger, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixture describes the seeded posts: post i is expired when i%3 == 0.
type fixture struct{ n int }

func postID(i int) string            { return fmt.Sprintf("p%05d", i) }
func (f fixture) expired(i int) bool { return i%3 == 0 }
func contentHash(i int) string       { return fmt.Sprintf("h%05d", i) }

// seed writes n posts into every store with mixed expires_at: posts,
// post_enrichment, indexing_status, one point each, the graph (channels,
// tags and pages, some shared by expired and live posts, some only by
// expired ones), and the tag stage's dedup mark of each.
func (e *env) seed(t testing.TB, n int) fixture {
	t.Helper()
	f := fixture{n: n}
	expiresOf := func(i int) time.Time {
		if f.expired(i) {
			return e.now.Add(-time.Hour - time.Duration(i)*time.Second)
		}
		return e.now.Add(24*time.Hour + time.Duration(i)*time.Second)
	}
	_, err := e.pool.Exec(e.ctx, `
		INSERT INTO posts (post_id, channel_id, text, posted_at, expires_at, content_hash)
		SELECT format('p%s', lpad(i::text, 5, '0')), 'ch' || (i % 50), 'text ' || i, $1::timestamptz,
		       CASE WHEN i % 3 = 0 THEN $2::timestamptz - make_interval(secs => i) ELSE $3::timestamptz + make_interval(secs => i) END,
		       format('h%s', lpad(i::text, 5, '0'))
		FROM generate_series(0, $4 - 1) AS i`, e.now.Add(-30*24*time.Hour), e.now.Add(-time.Hour), e.now.Add(24*time.Hour), n)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO post_enrichment (post_id, kind, data) SELECT post_id, 'tags', '{}' FROM posts`,
		`INSERT INTO post_enrichment (post_id, kind, data) SELECT post_id, 'crawl', '{}' FROM posts WHERE right(post_id, 1) IN ('1', '2', '3')`,
		`INSERT INTO indexing_status (post_id, embedding_status, graph_status) SELECT post_id, 'completed', 'completed' FROM posts`,
	} {
		if _, err := e.pool.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.vec.EnsureCollection(e.ctx, store.Collection{Name: "posts", Dim: 4, Model: "test"}); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < n; start += 500 {
		var points []store.Point
		var gposts []store.GraphPost
		for i := start; i < min(start+500, n); i++ {
			exp := expiresOf(i)
			points = append(points, store.Point{ID: store.PointID(postID(i)), Vector: []float32{1, float32(i), 0, 1},
				Payload: store.Payload{PostID: postID(i), ChannelID: fmt.Sprint("ch", i%50), ExpiresAt: exp.Unix(), Tags: []string{"shared"}}})
			gp := store.GraphPost{PostID: postID(i), ChannelID: fmt.Sprint("ch", i%50), PostedAt: e.now.Add(-30 * 24 * time.Hour), ExpiresAt: exp,
				Tags: []string{"shared"}, Pages: []store.WebPage{{URL: "https://both.example/"}}}
			if f.expired(i) {
				gp.ChannelID = fmt.Sprint("gone", i%7) // channels of expired posts only
				gp.Tags = append(gp.Tags, fmt.Sprint("gone-tag-", i%10))
				gp.Pages = append(gp.Pages, store.WebPage{URL: fmt.Sprint("https://gone.example/", i%20)})
			} else {
				gp.Tags = append(gp.Tags, fmt.Sprint("live-tag-", i%10))
				gp.Pages = append(gp.Pages, store.WebPage{URL: fmt.Sprint("https://live.example/", i%20)})
			}
			gposts = append(gposts, gp)
		}
		if err := e.vec.Upsert(e.ctx, "posts", points); err != nil {
			t.Fatal(err)
		}
		if _, err := e.graph.UpsertPosts(e.ctx, gposts); err != nil {
			t.Fatal(err)
		}
		pipe := e.rdb.Pipeline()
		for i := start; i < min(start+500, n); i++ {
			pipe.Set(e.ctx, e.prefix+"tagging:processed:"+postID(i)+":"+contentHash(i), "1", time.Hour)
		}
		if _, err := pipe.Exec(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (e *env) ids(t testing.TB, q string, args ...any) []string {
	t.Helper()
	rows, err := e.pool.Query(e.ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// state is every store's content, for comparing two runs.
type state map[string][]string

// snapshot reads what every store holds (vectorIDs lists the vector
// store's post ids, which differs between backends).
func (e *env) snapshot(t testing.TB, vectorIDs func() []string) state {
	t.Helper()
	s := state{
		"posts":           e.ids(t, `SELECT post_id FROM posts`),
		"post_enrichment": e.ids(t, `SELECT post_id || '/' || kind FROM post_enrichment`),
		"indexing_status": e.ids(t, `SELECT post_id FROM indexing_status`),
		"graph_posts":     e.ids(t, `SELECT post_id FROM graph_posts`),
		"graph_tags":      e.ids(t, `SELECT name FROM graph_tags`),
		"graph_channels":  e.ids(t, `SELECT channel_id FROM graph_channels`),
		"web_pages":       e.ids(t, `SELECT url FROM web_pages`),
		"vectors":         vectorIDs(),
	}
	keys, err := e.rdb.Keys(e.ctx, e.prefix+"tagging:processed:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	s["marks"] = keys
	return s
}

func (e *env) pgVectorIDs(t testing.TB) func() []string {
	return func() []string { return e.ids(t, `SELECT post_id FROM vectors`) }
}

// want is the state after a correct sweep of f: exactly the live posts.
func (e *env) want(f fixture) state {
	s := state{}
	for i := 0; i < f.n; i++ {
		if f.expired(i) {
			continue
		}
		id := postID(i)
		s["posts"] = append(s["posts"], id)
		s["post_enrichment"] = append(s["post_enrichment"], id+"/tags")
		if d := id[len(id)-1]; d >= '1' && d <= '3' {
			s["post_enrichment"] = append(s["post_enrichment"], id+"/crawl")
		}
		s["indexing_status"] = append(s["indexing_status"], id)
		s["graph_posts"] = append(s["graph_posts"], id)
		s["vectors"] = append(s["vectors"], id)
		s["marks"] = append(s["marks"], e.prefix+"tagging:processed:"+id+":"+contentHash(i))
	}
	s["graph_tags"] = []string{"shared"}
	for i := 0; i < 10; i++ {
		s["graph_tags"] = append(s["graph_tags"], fmt.Sprint("live-tag-", i))
	}
	channels := map[string]bool{}
	pages := map[string]bool{"https://both.example/": true}
	for i := 0; i < f.n; i++ {
		if !f.expired(i) {
			channels[fmt.Sprint("ch", i%50)] = true
			pages[fmt.Sprint("https://live.example/", i%20)] = true
		}
	}
	for c := range channels {
		s["graph_channels"] = append(s["graph_channels"], c)
	}
	for p := range pages {
		s["web_pages"] = append(s["web_pages"], p)
	}
	for k := range s {
		slices.Sort(s[k])
	}
	return s
}

func compareState(t testing.TB, got, want state) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if !slices.Equal(g, w) {
			t.Errorf("%s: have %d entries, want %d (first have %v, first want %v)", k, len(g), len(w), g[:min(3, len(g))], w[:min(3, len(w))])
		}
	}
}

func sweepOnce(t testing.TB, c *cleanup.Cleaner, ttl time.Duration) cleanup.SweepResult {
	t.Helper()
	ctx := context.Background()
	lease := cleanup.NewLease(redisOf(c), c.LeaseKey(), ttl)
	ok, err := lease.Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("acquire lease: %v %v", ok, err)
	}
	defer lease.Release(ctx)
	res, err := c.Sweep(ctx, lease)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return res
}

func redisOf(c *cleanup.Cleaner) redis.UniversalClient { return c.Redis() }

func sortStrings(s []string) []string { slices.Sort(s); return s }

// metric is the value of a gauge or counter in the test's registry (the
// series with label=value when label is set).
func (e *env) metric(t testing.TB, name, label, value string) float64 {
	t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}
