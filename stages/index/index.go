// Package index is the index stage: it reads posts.enriched, embeds each
// post (text, crawled excerpts and tags) in batched calls to the configured
// embedder, writes one point per post to the vector store and the post's
// channel, tags and pages to the graph store, records the outcome in
// indexing_status and publishes posts.indexed (spec sections 3, 5 and 7).
//
// A post whose embedding text and model are unchanged since it was last
// indexed (index_hash) is not embedded again: it is acknowledged with
// posts.indexed skipped_unchanged=true, unless the entry comes from
// `assistant reindex` (reindex=true, see Reindex). A changed post is re-embedded and
// its point and edges replaced (stale tag and link edges removed). A store
// or embedder that fails fails the batch transiently: the runner retries
// it, and Check (for /readyz) names the failing store.
package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/unicode/norm"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/tombstone"
)

// Name is the stage's name (config key, --stages value, consumer group).
const Name = "index"

// Limits of the embedding text (spec section 5, index step 1).
const (
	maxPostChars = 2000
	maxPageChars = 1500
)

// Options are what New needs; the daemon builds them from the configuration.
type Options struct {
	// Pool holds indexing_status.
	Pool     *pgxpool.Pool
	Vectors  store.VectorStore
	Graph    store.GraphStore
	Embedder ai.Embedder
	// Provider names the embedder in metrics (gigachat, openrouter, local).
	Provider string
	// Collection is the vector collection (default "posts");
	// CollectionTemplate, when set, names a collection per tenant with
	// {tenant_id} replaced (posts without a tenant go to Collection).
	Collection         string
	CollectionTemplate string
	// Retention and ReceiptFloor are posts.retention and
	// posts.receipt_floor: expires_at = config.Posts.ExpiresAt.
	Retention    time.Duration
	ReceiptFloor time.Duration
	// EmbedBatch is the most texts per embedder call (default 32).
	EmbedBatch int
	// EmbedRetries and EmbedBackoff tune retries of temporary embedder
	// failures inside one Handle (defaults: 3, 200ms).
	EmbedRetries int
	EmbedBackoff time.Duration
	// StoreWait is how long a batch waits for a store that is down (its
	// Check fails too) to answer again before the batch fails; the write is
	// then repeated. It keeps a short outage from using up the entries'
	// delivery attempts. Keep it below runner.claim_min_idle. 0: no wait.
	StoreWait time.Duration
	// Output is the (unprefixed) stream of posts.indexed.
	Output  string
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tombstones are the posts cleanup deleted: a late posts.enriched
	// entry of one is acknowledged without indexing it (nil: none).
	Tombstones *tombstone.Set
}

// Stage is the index stage. It is safe for concurrent use.
type Stage struct {
	opts     Options
	embedder *ai.BatchEmbedder
	logger   *slog.Logger
	metrics  metrics

	mu          sync.Mutex
	collections map[string]int // ensured collection → dimension
	fatal       error          // a model mismatch: every batch fails until fixed
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Checker = (*Stage)(nil)
)

// New builds the stage and prepares the graph store (constraints).
func New(ctx context.Context, opts Options) (*Stage, error) {
	if opts.Pool == nil || opts.Vectors == nil || opts.Graph == nil || opts.Embedder == nil {
		return nil, errors.New("index: options need a pool, a vector store, a graph store and an embedder")
	}
	if opts.Collection == "" {
		opts.Collection = "posts"
	}
	if opts.Retention <= 0 {
		opts.Retention = 90 * 24 * time.Hour
	}
	if opts.Output == "" {
		opts.Output = "posts.indexed"
	}
	if opts.Provider == "" {
		opts.Provider = "unknown"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Metrics, opts.Provider, opts.Embedder.Model())
	if err != nil {
		return nil, fmt.Errorf("index: register metrics: %w", err)
	}
	if err := opts.Graph.EnsureSchema(ctx); err != nil {
		return nil, fmt.Errorf("index: prepare graph store: %w", err)
	}
	s := &Stage{
		opts:        opts,
		logger:      opts.Logger.With(slog.String("stage", Name)),
		metrics:     m,
		collections: map[string]int{},
	}
	s.embedder = &ai.BatchEmbedder{
		Embedder: opts.Embedder,
		Batch:    opts.EmbedBatch,
		Retries:  opts.EmbedRetries,
		Backoff:  opts.EmbedBackoff,
		Observe: func(status string, d time.Duration) {
			m.requests.WithLabelValues(opts.Provider, opts.Embedder.Model(), status).Inc()
			m.latency.Observe(d.Seconds())
		},
	}
	return s, nil
}

// Check probes indexing_status's database and both stores, naming the one
// that fails; a model mismatch keeps the stage not ready until fixed.
func (s *Stage) Check(ctx context.Context) error {
	s.mu.Lock()
	fatal := s.fatal
	s.mu.Unlock()
	if fatal != nil {
		return fmt.Errorf("index: %w", fatal)
	}
	if err := s.opts.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("index: postgres: %w", err)
	}
	if err := s.opts.Vectors.Check(ctx); err != nil {
		return fmt.Errorf("index: vector store: %w", err)
	}
	if err := s.opts.Graph.Check(ctx); err != nil {
		return fmt.Errorf("index: graph store: %w", err)
	}
	return nil
}

// item is one post of a batch on its way through the stage.
type item struct {
	msgs       []*pipeline.Message // every message of the batch about this post
	ev         *events.PostEnriched
	text       string
	hash       string
	pointID    string
	collection string
	vector     []float32
	attempts   int
	unchanged  bool
}

// Handle indexes a batch: undecodable entries fail alone (permanently);
// a failing embedder or store fails the batch (transiently).
func (s *Stage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	items := make([]*item, 0, len(batch))
	byID := make(map[string]*item, len(batch))
	model := s.opts.Embedder.Model()
	for _, m := range batch {
		ev := new(events.PostEnriched)
		if err := m.Decode(ev); err != nil {
			m.Fail(err)
			s.metrics.processed.WithLabelValues("error").Inc()
			s.logger.LogAttrs(ctx, slog.LevelWarn, "undecodable posts.enriched entry",
				append(m.LogAttrs(), slog.String("error", err.Error()))...)
			continue
		}
		if it, dup := byID[ev.PostID]; dup {
			// The later event of a post wins; both entries are acknowledged
			// together with one posts.indexed.
			it.msgs = append(it.msgs, m)
			it.ev = ev
			continue
		}
		it := &item{msgs: []*pipeline.Message{m}, ev: ev}
		byID[ev.PostID] = it
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil
	}
	items, err := s.dropDeleted(ctx, items)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		it.text = EmbeddingText(it.ev)
		it.hash = IndexHash(it.text, model)
		it.pointID = store.PointID(it.ev.PostID)
		it.collection = s.collectionOf(it.ev.TenantID)
	}
	if err := s.loadStatus(ctx, items); err != nil {
		s.metrics.processed.WithLabelValues("error").Add(float64(len(items)))
		return fmt.Errorf("index: read indexing_status of %d posts: %w", len(items), err)
	}
	var todo []*item
	for _, it := range items {
		if !it.unchanged {
			todo = append(todo, it)
		}
	}
	var counts store.GraphCounts
	if len(todo) > 0 {
		var (
			refused []postgres.Refused
			err     error
		)
		counts, refused, err = s.index(ctx, todo)
		if err != nil {
			s.metrics.processed.WithLabelValues("error").Add(float64(len(todo)))
			s.recordFailure(ctx, todo, err)
			return err
		}
		if len(refused) > 0 {
			items, todo = s.failRefused(ctx, items, todo, refused)
		}
		if items, err = s.undoDeleted(ctx, items, todo); err != nil {
			return err
		}
	}
	now := s.opts.Now().UTC()
	skipped := 0
	for _, it := range items {
		status := "success"
		if it.unchanged {
			status = "skipped_unchanged"
			skipped++
		}
		s.metrics.processed.WithLabelValues(status).Inc()
		out := &events.PostIndexed{
			PostID:           it.ev.PostID,
			VectorID:         it.pointID,
			Collection:       it.collection,
			EmbeddingModel:   model,
			EmbeddingDim:     s.dimOf(it.collection),
			Graph:            map[string]int{},
			IndexedAt:        now,
			SkippedUnchanged: it.unchanged,
		}
		if !it.unchanged {
			// The batch's counts are reported per post as that post's share:
			// one Post node, its channel, tags and pages.
			out.Graph = postGraphCounts(it.ev)
		}
		out.SchemaVersion = events.SchemaV1
		out.TraceID = it.ev.TraceID
		out.OccurredAt = now
		out.IdempotencyKey = it.ev.PostID + ":indexed:" + it.hash
		last := it.msgs[len(it.msgs)-1]
		if err := last.Publish(s.opts.Output, out); err != nil {
			last.Fail(pipeline.Permanent(fmt.Errorf("encode posts.indexed: %w", err)))
		}
	}
	s.logger.LogAttrs(ctx, slog.LevelDebug, "batch indexed",
		slog.Int("entries", len(batch)), slog.Int("posts", len(items)), slog.Int("embedded", len(todo)),
		slog.Int("skipped_unchanged", skipped), slog.Int("graph_nodes", counts.Nodes), slog.Int("graph_relationships", counts.Relationships))
	return nil
}

// index embeds and stores the posts of todo and records them completed.
// Posts PostgreSQL refuses for their data (a URL or tag over the index row
// limit, say) are returned in refused, by position in todo; the others are
// stored.
func (s *Stage) index(ctx context.Context, todo []*item) (store.GraphCounts, []postgres.Refused, error) {
	s.mu.Lock()
	fatal := s.fatal
	s.mu.Unlock()
	if fatal != nil {
		return store.GraphCounts{}, nil, fmt.Errorf("index: %w", fatal)
	}
	texts := make([]string, len(todo))
	for i, it := range todo {
		texts[i] = it.text
	}
	vecs, err := s.embedder.Embed(ctx, texts)
	if err != nil {
		if errors.Is(err, ai.ErrDimensionChanged) {
			s.setFatal(err)
		}
		return store.GraphCounts{}, nil, retryable(fmt.Errorf("index: embed %d posts: %w", len(todo), err))
	}
	for i, it := range todo {
		it.vector = vecs[i]
	}
	for _, it := range todo {
		if err := s.ensureCollection(ctx, it.collection, len(it.vector)); err != nil {
			return store.GraphCounts{}, nil, err
		}
	}
	// The stores are written for the whole batch at once; a batch that
	// PostgreSQL refuses for some posts' data is split until those posts
	// are found (postgres.WriteSplitting) and the rest is stored. Errors of
	// other stores (Qdrant, Neo4j) never split.
	var counts store.GraphCounts
	now := s.opts.Now()
	split, err := postgres.WriteSplitting(ctx, len(todo), func(ctx context.Context, lo, hi int) error {
		c, err := s.write(ctx, todo[lo:hi], now)
		if err == nil {
			counts.Nodes += c.Nodes
			counts.Relationships += c.Relationships
		}
		return err
	})
	if err != nil {
		return store.GraphCounts{}, nil, err
	}
	return counts, split.Refused, nil
}

// write stores items in the vector store (per collection), the graph store
// and indexing_status. Every write is an upsert, so writing an item again
// (a retry, a split batch) changes nothing.
func (s *Stage) write(ctx context.Context, items []*item, now time.Time) (store.GraphCounts, error) {
	// Points grouped by collection (one per tenant with a template).
	points := map[string][]store.Point{}
	var order []string
	for _, it := range items {
		if _, ok := points[it.collection]; !ok {
			order = append(order, it.collection)
		}
		points[it.collection] = append(points[it.collection], store.Point{ID: it.pointID, Vector: it.vector, Payload: s.payload(it.ev, now)})
	}
	for _, c := range order {
		err := s.whenUp(ctx, "vector store", s.opts.Vectors.Check, func() error {
			return s.opts.Vectors.Upsert(ctx, c, points[c])
		})
		if err != nil {
			return store.GraphCounts{}, fmt.Errorf("index: vector store: %w", err)
		}
	}
	gposts := make([]store.GraphPost, len(items))
	for i, it := range items {
		gposts[i] = s.graphPost(it.ev, now)
	}
	var counts store.GraphCounts
	err := s.whenUp(ctx, "graph store", s.opts.Graph.Check, func() error {
		var err error
		counts, err = s.opts.Graph.UpsertPosts(ctx, gposts)
		return err
	})
	if err != nil {
		return store.GraphCounts{}, fmt.Errorf("index: graph store: %w", err)
	}
	if err := s.recordSuccess(ctx, items); err != nil {
		return store.GraphCounts{}, fmt.Errorf("index: write indexing_status: %w", err)
	}
	return counts, nil
}

// failRefused fails the entries of the posts PostgreSQL refused
// permanently (the DLQ reason names the post and the SQLSTATE), notes the
// failure in indexing_status, and returns items and todo without them: they
// get no posts.indexed. A refused post may keep what a store accepted
// before another refused it (its vector point, say); replaying the fixed
// entry rewrites it, and TTL cleanup removes it otherwise.
func (s *Stage) failRefused(ctx context.Context, items, todo []*item, refused []postgres.Refused) ([]*item, []*item) {
	gone := make(map[*item]bool, len(refused))
	for _, r := range refused {
		it := todo[r.Index]
		gone[it] = true
		err := fmt.Errorf("postgres refused post %s (sqlstate %s): %w", it.ev.PostID, postgres.SQLState(r.Err), r.Err)
		for _, m := range it.msgs {
			m.Fail(pipeline.Permanent(err))
			s.logger.LogAttrs(ctx, slog.LevelWarn, "post refused by postgres",
				append(m.LogAttrs(), slog.String("error", err.Error()))...)
		}
		s.noteFailure(ctx, []*item{it}, err)
	}
	s.metrics.processed.WithLabelValues("error").Add(float64(len(refused)))
	keep := func(list []*item) []*item {
		kept := make([]*item, 0, len(list))
		for _, it := range list {
			if !gone[it] {
				kept = append(kept, it)
			}
		}
		return kept
	}
	return keep(items), keep(todo)
}

// whenUp runs write; when it fails and the store's own check fails too
// (the store is down, not refusing this data), it waits up to StoreWait
// for the check to pass and then runs write once more. A store still down
// after that is reported Unavailable, so the runner pauses the stage.
func (s *Stage) whenUp(ctx context.Context, name string, check func(context.Context) error, write func() error) error {
	err := write()
	if err == nil || ctx.Err() != nil {
		return err
	}
	if check(ctx) == nil {
		return err
	}
	// The store is down, not refusing this data: if it stays down, the
	// runner pauses the stage rather than spend the entries' attempts.
	down := pipeline.Unavailable(fmt.Errorf("%s unavailable: %w", name, err))
	if s.opts.StoreWait <= 0 {
		return down
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn, "store is down, holding the batch until it answers",
		slog.String("store", name), slog.Duration("up_to", s.opts.StoreWait), slog.String("error", err.Error()))
	deadline := time.Now().Add(s.opts.StoreWait)
	wait := 100 * time.Millisecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return down
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		if check(ctx) == nil {
			s.logger.LogAttrs(ctx, slog.LevelInfo, "store answers again, writing the batch", slog.String("store", name))
			return write()
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// retryable passes err on, adding the provider's Retry-After as a hint.
func retryable(err error) error {
	if d, ok := ai.RetryAfterOf(err); ok {
		return pipeline.RetryAfter(err, d)
	}
	return err
}

func (s *Stage) setFatal(err error) {
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
	s.logger.Error("index stage stopped indexing: the embedding model changed; fix the configuration or re-index explicitly",
		slog.String("error", err.Error()))
}

// ensureCollection creates the collection on first use with the vector size
// the provider answered with, and refuses a model or size change.
func (s *Stage) ensureCollection(ctx context.Context, name string, dim int) error {
	s.mu.Lock()
	have, ok := s.collections[name]
	s.mu.Unlock()
	if ok {
		if have != dim {
			err := &store.MismatchError{Collection: name, HaveDim: have, WantDim: dim, HaveModel: s.opts.Embedder.Model(), WantModel: s.opts.Embedder.Model()}
			s.setFatal(err)
			return err
		}
		return nil
	}
	err := s.opts.Vectors.EnsureCollection(ctx, store.Collection{Name: name, Dim: dim, Model: s.opts.Embedder.Model()})
	if errors.Is(err, store.ErrCollectionMismatch) {
		s.setFatal(err)
		return fmt.Errorf("index: %w", err)
	}
	if err != nil {
		return fmt.Errorf("index: vector store: %w", err)
	}
	s.mu.Lock()
	s.collections[name] = dim
	s.mu.Unlock()
	return nil
}

func (s *Stage) dimOf(collection string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.collections[collection]; ok {
		return d
	}
	if d := s.embedder.Dim(); d > 0 {
		return d
	}
	return s.opts.Embedder.Dimension()
}

// collectionOf names the collection of a tenant's posts.
func (s *Stage) collectionOf(tenant string) string {
	if s.opts.CollectionTemplate == "" || tenant == "" {
		return s.opts.Collection
	}
	return strings.ReplaceAll(s.opts.CollectionTemplate, "{tenant_id}", tenant)
}

// times returns the post's posted_at and its expires_at, the same instant
// persist writes to posts.expires_at: both compute it from posted_at and
// the received_at the events carry (an event without one, from an older
// producer, counts from when it was produced, else now).
func (s *Stage) times(ev *events.PostEnriched, now time.Time) (posted, expires time.Time) {
	if !ev.ExpiresAt.IsZero() {
		return ev.PostedAt, ev.ExpiresAt // a reindex: the stored post's
	}
	received := ev.ReceivedAt
	if received.IsZero() {
		received = ev.OccurredAt
	}
	if received.IsZero() {
		received = now
	}
	return ev.PostedAt, s.posts().ExpiresAt(ev.PostedAt, received)
}

// posts is the retention of every store.
func (s *Stage) posts() config.Posts {
	return config.Posts{Retention: s.opts.Retention, ReceiptFloor: s.opts.ReceiptFloor}
}

func (s *Stage) payload(ev *events.PostEnriched, now time.Time) store.Payload {
	posted, expires := s.times(ev, now)
	p := store.Payload{
		PostID:      ev.PostID,
		ChannelID:   ev.ChannelID,
		TenantID:    ev.TenantID,
		Tags:        nonNil(ev.Tags),
		ExpiresAt:   expires.Unix(),
		TextShort:   store.ShortText(ev.Text),
		URLs:        nonNil(ev.URLs),
		ContentHash: events.ContentHash(ev.Text),
	}
	if !posted.IsZero() {
		p.PostedAt = posted.Unix()
	}
	return p
}

func (s *Stage) graphPost(ev *events.PostEnriched, now time.Time) store.GraphPost {
	posted, expires := s.times(ev, now)
	g := store.GraphPost{
		PostID: ev.PostID, ChannelID: ev.ChannelID, TenantID: ev.TenantID,
		PostedAt: posted, ExpiresAt: expires, Tags: ev.Tags,
	}
	for _, c := range ev.Crawl {
		if page, ok := crawledPage(c); ok {
			g.Pages = append(g.Pages, page)
		}
	}
	return g
}

// crawledPage is the WebPage of a crawl result that fetched something.
func crawledPage(c events.CrawlResult) (store.WebPage, bool) {
	if c.Error != "" || (c.Status != 0 && (c.Status < 200 || c.Status > 299)) {
		return store.WebPage{}, false
	}
	u := c.FinalURL
	if u == "" {
		u = c.URL
	}
	if u == "" {
		return store.WebPage{}, false
	}
	return store.WebPage{URL: u, Title: c.Title}, true
}

// postGraphCounts is what the graph holds about one post: its node, its
// channel's, its tags' and pages' nodes, and the edges to them.
func postGraphCounts(ev *events.PostEnriched) map[string]int {
	nodes, rels := 1, 0
	if ev.ChannelID != "" {
		nodes, rels = nodes+1, rels+1
	}
	seen := map[string]bool{}
	for _, t := range ev.Tags {
		if t != "" && !seen[t] {
			seen[t] = true
			nodes, rels = nodes+1, rels+1
		}
	}
	seen = map[string]bool{}
	for _, c := range ev.Crawl {
		if p, ok := crawledPage(c); ok && !seen[p.URL] {
			seen[p.URL] = true
			nodes, rels = nodes+1, rels+1
		}
	}
	return map[string]int{"nodes": nodes, "relationships": rels}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// EmbeddingText is what gets embedded for a post: the text's first 2,000
// characters, the first 1,500 characters of each crawled page's Markdown,
// then the tags; NFC-normalised, whitespace collapsed to single spaces.
func EmbeddingText(ev *events.PostEnriched) string {
	var b strings.Builder
	b.WriteString(firstChars(ev.Text, maxPostChars))
	for _, c := range ev.Crawl {
		if c.Error != "" || c.MarkdownExcerpt == "" {
			continue
		}
		b.WriteString("\n\n")
		b.WriteString(firstChars(c.MarkdownExcerpt, maxPageChars))
	}
	if len(ev.Tags) > 0 {
		b.WriteString("\n\n")
		b.WriteString(strings.Join(ev.Tags, ", "))
	}
	return strings.Join(strings.Fields(norm.NFC.String(b.String())), " ")
}

// IndexHash identifies an embedding: the text and the model that embeds it.
func IndexHash(text, model string) string {
	h := sha256.New()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

func firstChars(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// loadStatus marks the items whose stored index_hash equals theirs with
// both stores completed, and reads every item's attempts.
func (s *Stage) loadStatus(ctx context.Context, items []*item) error {
	ids := make([]string, len(items))
	byID := make(map[string]*item, len(items))
	for i, it := range items {
		ids[i] = it.ev.PostID
		byID[it.ev.PostID] = it
	}
	rows, err := s.opts.Pool.Query(ctx, `
		SELECT post_id, coalesce(index_hash, ''), embedding_status, graph_status, attempts
		FROM indexing_status WHERE post_id = ANY($1::text[])`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, hash, es, gs string
			attempts         int
		)
		if err := rows.Scan(&id, &hash, &es, &gs, &attempts); err != nil {
			return err
		}
		it := byID[id]
		it.attempts = attempts
		// A reindex entry is written whatever indexing_status says: the
		// stores may have lost what it records.
		it.unchanged = !it.ev.Reindex && hash == it.hash && es == "completed" && gs == "completed"
	}
	return rows.Err()
}

// recordSuccess marks the items completed with their hash and point id.
func (s *Stage) recordSuccess(ctx context.Context, items []*item) error {
	ids, vids, hashes := make([]string, len(items)), make([]string, len(items)), make([]string, len(items))
	for i, it := range items {
		ids[i], vids[i], hashes[i] = it.ev.PostID, it.pointID, it.hash
	}
	_, err := s.opts.Pool.Exec(ctx, `
		INSERT INTO indexing_status AS s (post_id, embedding_status, graph_status, vector_id, index_hash, error, attempts, updated_at)
		SELECT u.post_id, 'completed', 'completed', u.vector_id, u.index_hash, NULL, 1, now()
		FROM unnest($1::text[], $2::text[], $3::text[]) AS u(post_id, vector_id, index_hash)
		ON CONFLICT (post_id) DO UPDATE SET embedding_status = 'completed', graph_status = 'completed',
		    vector_id = EXCLUDED.vector_id, index_hash = EXCLUDED.index_hash, error = NULL,
		    attempts = s.attempts + 1, updated_at = now()`, ids, vids, hashes)
	return err
}

// recordFailure notes the error on the items' rows (best effort: when
// Postgres itself is what failed, this fails too and the runner's retry is
// what counts). The stored index_hash is left alone, so a post that was
// indexed before is not mistaken for unchanged content.
func (s *Stage) recordFailure(ctx context.Context, items []*item, cause error) {
	for _, it := range items {
		for _, m := range it.msgs {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "indexing failed, batch will be retried",
				append(m.LogAttrs(), slog.String("error", cause.Error()))...)
		}
	}
	s.noteFailure(ctx, items, cause)
}

// noteFailure writes the failure into the items' indexing_status rows, best
// effort (see recordFailure).
func (s *Stage) noteFailure(ctx context.Context, items []*item, cause error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ev.PostID
	}
	embedding, graph := "failed", "pending"
	if strings.Contains(cause.Error(), "graph store") {
		embedding, graph = "completed", "failed"
	}
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := s.opts.Pool.Exec(ctx, `
		INSERT INTO indexing_status AS s (post_id, embedding_status, graph_status, error, attempts, updated_at)
		SELECT unnest($1::text[]), $2, $3, $4, 1, now()
		ON CONFLICT (post_id) DO UPDATE SET embedding_status = EXCLUDED.embedding_status,
		    graph_status = EXCLUDED.graph_status, error = EXCLUDED.error, index_hash = NULL,
		    attempts = s.attempts + 1, updated_at = now()`, ids, embedding, graph, msg)
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		s.logger.Debug("could not record the indexing failure", slog.String("error", err.Error()))
	}
}

// metrics are the stage's own series (spec section 5, index).
type metrics struct {
	processed *prometheus.CounterVec
	requests  *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, provider, model string) (metrics, error) {
	m := metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "indexing_processed_total",
			Help: "posts.enriched posts handled by index, by status: success, skipped_unchanged (same content and model as last time: no embedding) or error.",
		}, []string{"status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embedding_requests_total",
			Help: "Calls to the embedding provider, by provider, model and status (success or error).",
		}, []string{"provider", "model", "status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "embedding_latency_seconds",
			Help:    "Duration of one embedding call (a batch of texts).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if reg != nil {
		var err error
		if m.processed, err = pipeline.RegisterCollector(reg, m.processed); err != nil {
			return metrics{}, err
		}
		if m.requests, err = pipeline.RegisterCollector(reg, m.requests); err != nil {
			return metrics{}, err
		}
		if m.latency, err = pipeline.RegisterCollector(reg, m.latency); err != nil {
			return metrics{}, err
		}
	}
	// Every series exists from the start, so rates are 0 rather than absent.
	for _, st := range []string{"success", "skipped_unchanged", "error"} {
		m.processed.WithLabelValues(st)
	}
	for _, st := range []string{"success", "error"} {
		m.requests.WithLabelValues(provider, model, st)
	}
	return m, nil
}

// dropDeleted removes the posts cleanup has tombstoned from the batch: their
// entries are acknowledged without a posts.indexed.
func (s *Stage) dropDeleted(ctx context.Context, items []*item) ([]*item, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ev.PostID
	}
	dead, err := s.opts.Tombstones.Dead(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if len(dead) == 0 {
		return items, nil
	}
	kept := items[:0]
	for _, it := range items {
		if !dead[it.ev.PostID] {
			kept = append(kept, it)
		}
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "deleted posts not indexed", slog.Int("posts", len(dead)))
	return kept, nil
}

// undoDeleted closes the race with a deletion that arrived while todo was
// being written (cleanup tombstones before it deletes): the posts
// tombstoned now are removed from the stores again and get no posts.indexed.
func (s *Stage) undoDeleted(ctx context.Context, items, todo []*item) ([]*item, error) {
	ids := make([]string, len(todo))
	for i, it := range todo {
		ids[i] = it.ev.PostID
	}
	dead, err := s.opts.Tombstones.Dead(ctx, ids)
	if err != nil || len(dead) == 0 {
		return items, err
	}
	var gone []string
	points := map[string][]string{}
	for _, it := range todo {
		if dead[it.ev.PostID] {
			gone = append(gone, it.ev.PostID)
			points[it.collection] = append(points[it.collection], it.pointID)
		}
	}
	for c, pids := range points {
		if err := s.opts.Vectors.Delete(ctx, c, pids); err != nil {
			return nil, fmt.Errorf("index: remove %d posts deleted meanwhile: %w", len(pids), err)
		}
	}
	if _, err := s.opts.Graph.DeletePosts(ctx, gone); err != nil {
		return nil, fmt.Errorf("index: remove %d posts deleted meanwhile: %w", len(gone), err)
	}
	if _, err := s.opts.Pool.Exec(ctx, `DELETE FROM indexing_status WHERE post_id = ANY($1::text[])`, gone); err != nil {
		return nil, fmt.Errorf("index: remove %d posts deleted meanwhile: %w", len(gone), err)
	}
	kept := items[:0]
	for _, it := range items {
		if !dead[it.ev.PostID] {
			kept = append(kept, it)
		}
	}
	return kept, nil
}
