// Package neo4j is the Neo4j backend of store.GraphStore, with the official
// driver (github.com/neo4j/neo4j-go-driver/v5). The model is the spec's:
//
//	(:Channel {channel_id})-[:HAS_POST]->(:Post {post_id, channel_id, tenant_id, posted_at, expires_at})
//	(:Post)-[:TAGGED_AS]->(:Tag {name})
//	(:Post)-[:REFERS_TO]->(:WebPage {url, title})
//
// Uniqueness constraints on the four keys (and an index on
// Post.expires_at for the TTL sweep) are created at start. A batch of posts
// is written with UNWIND queries in one transaction, whose first statements
// remove each post's stale TAGGED_AS, REFERS_TO and HAS_POST edges. Every
// value travels as a query parameter: no query text is built from data.
// Times are unix seconds (integers), as in the vector payload.
package neo4j

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/assistant-dev/assistant/store"
)

// Config locates a Neo4j server (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD).
type Config struct {
	URI      string
	User     string
	Password string
	// Database is the database name; empty: the server's default.
	Database string
}

// Store is a store.GraphStore on Neo4j. Safe for concurrent use.
type Store struct {
	driver neo4j.DriverWithContext
	db     string
}

var _ store.GraphStore = (*Store)(nil)

// Open builds the driver; it connects lazily (Check verifies).
func Open(cfg Config) (*Store, error) {
	if cfg.URI == "" {
		return nil, errors.New("neo4j: uri (NEO4J_URI) is not set")
	}
	auth := neo4j.NoAuth()
	if cfg.User != "" {
		auth = neo4j.BasicAuth(cfg.User, cfg.Password, "")
	}
	d, err := neo4j.NewDriverWithContext(cfg.URI, auth)
	if err != nil {
		return nil, fmt.Errorf("neo4j: driver for %s: %w", cfg.URI, err)
	}
	return &Store{driver: d, db: cfg.Database}, nil
}

// Close closes the driver's connections.
func (s *Store) Close(ctx context.Context) error { return s.driver.Close(ctx) }

// Schema is what EnsureSchema runs, one statement per transaction (Neo4j
// does not mix schema and data changes in one).
var Schema = []string{
	"CREATE CONSTRAINT post_post_id IF NOT EXISTS FOR (p:Post) REQUIRE p.post_id IS UNIQUE",
	"CREATE CONSTRAINT tag_name IF NOT EXISTS FOR (t:Tag) REQUIRE t.name IS UNIQUE",
	"CREATE CONSTRAINT channel_channel_id IF NOT EXISTS FOR (c:Channel) REQUIRE c.channel_id IS UNIQUE",
	"CREATE CONSTRAINT webpage_url IF NOT EXISTS FOR (w:WebPage) REQUIRE w.url IS UNIQUE",
	"CREATE INDEX post_expires_at IF NOT EXISTS FOR (p:Post) ON (p.expires_at)",
}

func (s *Store) exec(ctx context.Context, q string, params map[string]any) (*neo4j.EagerResult, error) {
	return neo4j.ExecuteQuery(ctx, s.driver, q, params, neo4j.EagerResultTransformer,
		neo4j.ExecuteQueryWithDatabase(s.db))
}

// EnsureSchema implements store.GraphStore.
func (s *Store) EnsureSchema(ctx context.Context) error {
	for _, q := range Schema {
		if _, err := s.exec(ctx, q, nil); err != nil {
			return fmt.Errorf("neo4j: %s: %w", q, err)
		}
	}
	return nil
}

// The statements of one UpsertPosts transaction, in order: stale edges out
// first, then nodes and the new edges. Each takes its rows as $rows.
const (
	removeStaleEdges = `UNWIND $rows AS row
MATCH (p:Post {post_id: row.post_id})
OPTIONAL MATCH (p)-[t:TAGGED_AS]->(tag:Tag) WHERE NOT tag.name IN row.tags
WITH p, row, collect(t) AS stale_tags
OPTIONAL MATCH (p)-[r:REFERS_TO]->(page:WebPage) WHERE NOT page.url IN row.urls
WITH p, row, stale_tags, collect(r) AS stale_pages
OPTIONAL MATCH (c:Channel)-[h:HAS_POST]->(p) WHERE c.channel_id <> row.channel_id
WITH stale_tags, stale_pages, collect(h) AS stale_channels
FOREACH (x IN stale_tags + stale_pages + stale_channels | DELETE x)`
	upsertPosts = `UNWIND $rows AS row
MERGE (p:Post {post_id: row.post_id})
SET p.channel_id = row.channel_id, p.tenant_id = row.tenant_id,
    p.posted_at = row.posted_at, p.expires_at = row.expires_at
WITH p, row WHERE row.channel_id <> ''
MERGE (c:Channel {channel_id: row.channel_id})
MERGE (c)-[:HAS_POST]->(p)`
	upsertTags = `UNWIND $rows AS row
MATCH (p:Post {post_id: row.post_id})
MERGE (t:Tag {name: row.tag})
MERGE (p)-[:TAGGED_AS]->(t)`
	upsertPages = `UNWIND $rows AS row
MATCH (p:Post {post_id: row.post_id})
MERGE (w:WebPage {url: row.url})
SET w.title = CASE WHEN row.title <> '' THEN row.title ELSE coalesce(w.title, '') END
MERGE (p)-[:REFERS_TO]->(w)`
)

func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// UpsertPosts implements store.GraphStore: one managed write transaction
// (retried by the driver on transient errors) running removeStaleEdges,
// upsertPosts, upsertTags and upsertPages.
func (s *Store) UpsertPosts(ctx context.Context, posts []store.GraphPost) (store.GraphCounts, error) {
	if len(posts) == 0 {
		return store.GraphCounts{}, nil
	}
	byID := map[string]store.GraphPost{}
	var order []string
	for _, p := range posts {
		if _, ok := byID[p.PostID]; !ok {
			order = append(order, p.PostID)
		}
		byID[p.PostID] = p
	}
	var (
		postRows, tagRows, pageRows []any
		counts                      store.GraphCounts
		chans, tags, pages          = map[string]bool{}, map[string]bool{}, map[string]bool{}
	)
	for _, id := range order {
		p := byID[id]
		tagList, urlList := []any{}, []any{}
		seen := map[string]bool{}
		for _, t := range p.Tags {
			if t == "" || seen[t] {
				continue
			}
			seen[t] = true
			tags[t] = true
			tagList = append(tagList, t)
			tagRows = append(tagRows, map[string]any{"post_id": id, "tag": t})
		}
		seen = map[string]bool{}
		for _, pg := range p.Pages {
			if pg.URL == "" || seen[pg.URL] {
				continue
			}
			seen[pg.URL] = true
			pages[pg.URL] = true
			urlList = append(urlList, pg.URL)
			pageRows = append(pageRows, map[string]any{"post_id": id, "url": pg.URL, "title": pg.Title})
		}
		postRows = append(postRows, map[string]any{
			"post_id": id, "channel_id": p.ChannelID, "tenant_id": p.TenantID,
			"posted_at": unix(p.PostedAt), "expires_at": unix(p.ExpiresAt),
			"tags": tagList, "urls": urlList,
		})
		if p.ChannelID != "" {
			chans[p.ChannelID] = true
			counts.Relationships++
		}
	}
	counts.Nodes = len(order) + len(chans) + len(tags) + len(pages)
	counts.Relationships += len(tagRows) + len(pageRows)

	sess := s.driver.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeWrite, DatabaseName: s.db})
	defer sess.Close(ctx)
	_, err := sess.ExecuteWrite(ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		for _, st := range []struct {
			q    string
			rows []any
		}{{removeStaleEdges, postRows}, {upsertPosts, postRows}, {upsertTags, tagRows}, {upsertPages, pageRows}} {
			if len(st.rows) == 0 {
				continue
			}
			res, err := tx.Run(ctx, st.q, map[string]any{"rows": st.rows})
			if err != nil {
				return nil, err
			}
			if _, err := res.Consume(ctx); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return store.GraphCounts{}, fmt.Errorf("neo4j: upsert %d posts: %w", len(order), err)
	}
	return counts, nil
}

func (s *Store) strings(ctx context.Context, what, q string, params map[string]any) ([]string, error) {
	res, err := s.exec(ctx, q, params)
	if err != nil {
		return nil, fmt.Errorf("neo4j: %s: %w", what, err)
	}
	out := make([]string, 0, len(res.Records))
	for _, r := range res.Records {
		if len(r.Values) > 0 {
			if v, ok := r.Values[0].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// PostsWithTag implements store.GraphStore.
func (s *Store) PostsWithTag(ctx context.Context, q store.TagQuery) ([]string, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	return s.strings(ctx, "posts with tag", `MATCH (p:Post)-[:TAGGED_AS]->(:Tag {name: $tag})
WHERE $tenant = '' OR p.tenant_id = $tenant
RETURN p.post_id AS post_id ORDER BY p.posted_at DESC, p.post_id LIMIT $limit`,
		map[string]any{"tag": q.Tag, "tenant": q.TenantID, "limit": int64(q.Limit)})
}

// RelatedTags implements store.GraphStore.
func (s *Store) RelatedTags(ctx context.Context, tag string, limit int) ([]store.TagCount, error) {
	if limit <= 0 {
		return nil, nil
	}
	res, err := s.exec(ctx, `MATCH (:Tag {name: $tag})<-[:TAGGED_AS]-(p:Post)-[:TAGGED_AS]->(o:Tag)
RETURN o.name AS tag, count(DISTINCT p) AS posts ORDER BY posts DESC, tag LIMIT $limit`,
		map[string]any{"tag": tag, "limit": int64(limit)})
	if err != nil {
		return nil, fmt.Errorf("neo4j: related tags: %w", err)
	}
	out := make([]store.TagCount, 0, len(res.Records))
	for _, r := range res.Records {
		name, _ := r.Values[0].(string)
		n, _ := r.Values[1].(int64)
		out = append(out, store.TagCount{Tag: name, Posts: int(n)})
	}
	return out, nil
}

// PostsLinking implements store.GraphStore.
func (s *Store) PostsLinking(ctx context.Context, url string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	return s.strings(ctx, "posts linking", `MATCH (p:Post)-[:REFERS_TO]->(:WebPage {url: $url})
RETURN p.post_id AS post_id ORDER BY p.posted_at DESC, p.post_id LIMIT $limit`,
		map[string]any{"url": url, "limit": int64(limit)})
}

func (s *Store) count(ctx context.Context, what, q string, params map[string]any) (int, error) {
	res, err := s.exec(ctx, q, params)
	if err != nil {
		return 0, fmt.Errorf("neo4j: %s: %w", what, err)
	}
	if len(res.Records) == 0 || len(res.Records[0].Values) == 0 {
		return 0, fmt.Errorf("neo4j: %s: no count returned", what)
	}
	n, _ := res.Records[0].Values[0].(int64)
	return int(n), nil
}

// DeletePosts implements store.GraphStore (DETACH DELETE: edges go too).
func (s *Store) DeletePosts(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return s.count(ctx, "delete posts", `MATCH (p:Post) WHERE p.post_id IN $ids
DETACH DELETE p RETURN count(*) AS n`, map[string]any{"ids": ids})
}

// DeleteExpired implements store.GraphStore.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	return s.count(ctx, "delete expired posts", `MATCH (p:Post) WHERE p.expires_at < $before
WITH p LIMIT $limit DETACH DELETE p RETURN count(*) AS n`,
		map[string]any{"before": before.Unix(), "limit": int64(limit)})
}

// Orphan queries, one per label, each bounded by $limit.
var orphanQueries = []struct {
	what, q string
}{
	{"tags", `MATCH (t:Tag) WHERE NOT (t)<-[:TAGGED_AS]-(:Post) WITH t LIMIT $limit DETACH DELETE t RETURN count(*) AS n`},
	{"channels", `MATCH (c:Channel) WHERE NOT (c)-[:HAS_POST]->(:Post) WITH c LIMIT $limit DETACH DELETE c RETURN count(*) AS n`},
	{"web pages", `MATCH (w:WebPage) WHERE NOT (w)<-[:REFERS_TO]-(:Post) WITH w LIMIT $limit DETACH DELETE w RETURN count(*) AS n`},
}

// DeleteOrphans implements store.GraphStore.
func (s *Store) DeleteOrphans(ctx context.Context, limit int) (store.OrphanCounts, error) {
	var c store.OrphanCounts
	if limit <= 0 {
		return c, nil
	}
	dst := []*int{&c.Tags, &c.Channels, &c.WebPages}
	for i, oq := range orphanQueries {
		n, err := s.count(ctx, "delete orphan "+oq.what, oq.q, map[string]any{"limit": int64(limit)})
		if err != nil {
			return c, err
		}
		*dst[i] = n
	}
	return c, nil
}

// Check implements store.GraphStore.
func (s *Store) Check(ctx context.Context) error {
	if err := s.driver.VerifyConnectivity(ctx); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	return nil
}
