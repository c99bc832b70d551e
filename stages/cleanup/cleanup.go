// Package cleanup keeps every store to one retention and removes deleted
// posts (spec sections 3 and 5). It is one stage with two halves:
//
//   - a Service, the periodic TTL sweep: posts whose posts.expires_at has
//     passed are deleted in small batches from PostgreSQL (posts,
//     post_enrichment, indexing_status), the vector store, the graph store
//     and the Redis dedup marks keyed by them; then the vector and graph
//     stores are swept by their own expires_at (posts indexed but never
//     persisted), then orphan Tag, Channel and WebPage nodes. Only the
//     holder of a Redis lease sweeps, and the sweep checkpoints its phase and
//     cursor after every batch, so a successor resumes where a killed holder
//     stopped;
//   - a consumer of posts.deleted: a post deleted in Telegram, by an
//     operator or by TTL is removed from every store, and a tombstone keeps
//     a late persist or index from bringing it back (store/tombstone).
//
// posts.expires_at is the truth: index writes the same posted_at+retention
// into the vector payload and the graph, and the sweep deletes a post from
// every store by its posts row, whatever the other stores say.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/tombstone"
)

// Store labels of cleanup_deleted_total.
const (
	StorePostgres = "postgres" // rows of posts (with their post_enrichment and indexing_status rows)
	StoreVector   = "vector"   // points
	StoreGraph    = "graph"    // Post nodes
	StoreOrphans  = "orphans"  // Tag, Channel and WebPage nodes
	StoreRedis    = "redis"    // dedup marks
)

var storeLabels = []string{StorePostgres, StoreVector, StoreGraph, StoreOrphans, StoreRedis}

// Options are what a Cleaner needs.
type Options struct {
	Pool    *pgxpool.Pool
	Vectors store.VectorStore
	Graph   store.GraphStore
	Redis   redis.UniversalClient
	// Prefix is the Redis key prefix (redis.key_prefix).
	Prefix string
	// Collection and CollectionTemplate name the vector collections as the
	// index stage does (stages.index).
	Collection, CollectionTemplate string
	Config                         Config
	Logger                         *slog.Logger
	Metrics                        *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Cleaner deletes posts from every store. Safe for concurrent use (the
// consumer's workers and the sweep share one).
type Cleaner struct {
	opts       Options
	log        *slog.Logger
	m          *Metrics
	tombstones *tombstone.Set
}

// NewCleaner checks opts and returns a Cleaner.
func NewCleaner(opts Options) (*Cleaner, error) {
	if opts.Pool == nil || opts.Vectors == nil || opts.Graph == nil || opts.Redis == nil {
		return nil, errors.New("cleanup: options need a pool, a vector store, a graph store and Redis")
	}
	if opts.Collection == "" {
		opts.Collection = "posts"
	}
	if opts.Config.SweepBatch <= 0 {
		opts.Config.SweepBatch = DefaultConfig().SweepBatch
	}
	if opts.Config.LeaseTTL <= 0 {
		opts.Config.LeaseTTL = DefaultConfig().LeaseTTL
	}
	if opts.Config.TombstoneTTL <= 0 {
		opts.Config.TombstoneTTL = DefaultConfig().TombstoneTTL
	}
	if opts.Config.Interval <= 0 {
		opts.Config.Interval = DefaultConfig().Interval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		opts.Metrics = m
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cleaner{
		opts:       opts,
		log:        opts.Logger.With(slog.String("stage", Name)),
		m:          opts.Metrics,
		tombstones: tombstone.New(opts.Redis, opts.Prefix),
	}, nil
}

// Tombstones are the cleaner's tombstones (persist and index read the same keys).
func (c *Cleaner) Tombstones() *tombstone.Set { return c.tombstones }

// victim is a post to delete, as its posts row describes it.
type victim struct {
	id, tenant, contentHash string
	expiresAt               time.Time
}

// collectionOf mirrors the index stage's choice of collection.
func (c *Cleaner) collectionOf(tenant string) string {
	if c.opts.CollectionTemplate == "" || tenant == "" {
		return c.opts.Collection
	}
	return strings.ReplaceAll(c.opts.CollectionTemplate, "{tenant_id}", tenant)
}

// Counts are what one deletion removed, per store label.
type Counts map[string]int

func (c Counts) add(o Counts) {
	for k, v := range o {
		c[k] += v
	}
}

// deleteVictims removes posts from every store: the Redis dedup marks, the
// vector points, the graph posts, and last the PostgreSQL rows in one short
// transaction. The posts row goes last so that a sweep killed half way
// finds the same posts again on resume (every step is idempotent).
func (c *Cleaner) deleteVictims(ctx context.Context, vs []victim, alsoDefault bool) (Counts, error) {
	counts := Counts{}
	if len(vs) == 0 {
		return counts, nil
	}
	ids := make([]string, len(vs))
	byCollection := map[string][]string{}
	for i, v := range vs {
		ids[i] = v.id
		pid := store.PointID(v.id)
		col := c.collectionOf(v.tenant)
		byCollection[col] = append(byCollection[col], pid)
		if alsoDefault && col != c.opts.Collection {
			byCollection[c.opts.Collection] = append(byCollection[c.opts.Collection], pid)
		}
	}
	// The tag stage's dedup mark is keyed by post id and content hash, both
	// in the posts row: one DEL per post, no SCAN over the key space. Marks
	// of older contents of an edited post expire by their own TTL.
	var marks []string
	for _, v := range vs {
		if v.contentHash != "" {
			marks = append(marks, c.opts.Prefix+"tagging:processed:"+v.id+":"+v.contentHash)
		}
	}
	if len(marks) > 0 {
		n, err := c.opts.Redis.Del(ctx, marks...).Result()
		if err != nil {
			return counts, fmt.Errorf("cleanup: delete %d dedup marks: %w", len(marks), err)
		}
		counts[StoreRedis] = int(n)
	}
	for col, pids := range byCollection {
		if err := c.opts.Vectors.Delete(ctx, col, pids); err != nil {
			return counts, fmt.Errorf("cleanup: %w", err)
		}
		counts[StoreVector] += len(pids)
	}
	n, err := c.opts.Graph.DeletePosts(ctx, ids)
	if err != nil {
		return counts, fmt.Errorf("cleanup: %w", err)
	}
	counts[StoreGraph] = n
	if counts[StorePostgres], err = postgres.DeletePostRows(ctx, c.opts.Pool, ids); err != nil {
		return counts, fmt.Errorf("cleanup: %w", err)
	}
	return counts, nil
}

// DeletePosts removes posts by id from every store, after tombstoning them
// for the configured TTL (the posts.deleted consumer and `assistant posts
// delete` path). Deleting a post that is gone already is not an error.
func (c *Cleaner) DeletePosts(ctx context.Context, ids []string, reason string) (Counts, error) {
	if len(ids) == 0 {
		return Counts{}, nil
	}
	if err := c.tombstones.Add(ctx, ids, reason, c.opts.Config.TombstoneTTL); err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	vs := make([]victim, 0, len(ids))
	known := map[string]bool{}
	rows, err := c.opts.Pool.Query(ctx, `SELECT post_id, coalesce(tenant_id, ''), coalesce(content_hash, '') FROM posts WHERE post_id = ANY($1::text[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("cleanup: read %d posts: %w", len(ids), err)
	}
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.tenant, &v.contentHash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cleanup: read posts: %w", err)
		}
		known[v.id] = true
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cleanup: read posts: %w", err)
	}
	for _, id := range ids {
		if !known[id] {
			// Not persisted (yet): it may still be indexed under the
			// default collection.
			vs = append(vs, victim{id: id})
		}
	}
	counts, err := c.deleteVictims(ctx, vs, true)
	c.m.observe(counts)
	return counts, err
}

// Redis is the cleaner's Redis client (the CLI and tests take the lease
// with it themselves).
func (c *Cleaner) Redis() redis.UniversalClient { return c.opts.Redis }
