package search

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
)

// StoreVectors serves Vectors straight from a store.VectorStore: Qdrant's
// HNSW index, pgvector's, or the PostgreSQL backend's exact scan (fine for a
// one-shot CLI query or a small corpus).
type StoreVectors struct {
	Store      store.VectorStore
	Collection string
}

func storeFilter(f VectorFilter) store.Filter {
	return store.Filter{ChannelIDs: f.Channels, TenantID: f.TenantID, PostedFrom: f.Since, PostedTo: f.Until, Now: f.Now}
}

// Nearest implements Vectors.
func (v StoreVectors) Nearest(ctx context.Context, vec []float32, k int, f VectorFilter) ([]VectorHit, error) {
	hits, err := v.Store.Search(ctx, v.Collection, vec, storeFilter(f), k)
	if err != nil {
		return nil, err
	}
	out := make([]VectorHit, len(hits))
	for i, h := range hits {
		out[i] = VectorHit{PostID: h.Payload.PostID, Score: float64(h.Score)}
	}
	return out, nil
}

// VectorOf implements Vectors.
func (v StoreVectors) VectorOf(ctx context.Context, postID string) ([]float32, bool, error) {
	return v.Store.Vector(ctx, v.Collection, store.PointID(postID))
}

// Mirror is the embedded backend's fast path: an in-memory quantised copy
// (vecindex) of a collection of a store that is a store.VectorFeed, loaded
// by one consistent Scan and kept current by Changes every refresh
// interval. Until the first load completes, and whenever the mirror is
// behind by more than the interval allows, searches go to the store itself,
// so an answer is never built from a stale or half-loaded copy.
type Mirror struct {
	store      store.VectorStore
	feed       store.VectorFeed
	collection string
	index      *vecindex.Index
	log        *slog.Logger
	interval   time.Duration

	mu     sync.Mutex // serialises Load/Refresh
	cursor store.Cursor
	postOf sync.Map // point id → post id
	loaded atomic.Bool
	// lastSync is when the mirror last caught up with the store (unix ns).
	lastSync atomic.Int64
}

// MirrorOptions shapes a Mirror.
type MirrorOptions struct {
	// Refresh is how often Run applies the store's changes (default 1s).
	Refresh time.Duration
	// Index shapes the in-memory index. Without KeepExact or an Exact
	// source the candidates are re-ranked by the float query against their
	// int8 codes (no exact vectors in memory, no round trip).
	Index  vecindex.Options
	Logger *slog.Logger
}

// NewMirror returns a mirror of collection (vectors of size dim); feed is
// usually the same value as st.
func NewMirror(st store.VectorStore, feed store.VectorFeed, collection string, dim int, o MirrorOptions) *Mirror {
	if o.Refresh <= 0 {
		o.Refresh = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Mirror{store: st, feed: feed, collection: collection, log: o.Logger, interval: o.Refresh}
	m.index = vecindex.New(dim, o.Index)
	return m
}

// Index is the in-memory index (for memory reports and benchmarks).
func (m *Mirror) Index() *vecindex.Index { return m.index }

// Ready reports whether the mirror answers searches itself.
func (m *Mirror) Ready() bool {
	return m.loaded.Load() && time.Since(time.Unix(0, m.lastSync.Load())) < 10*m.interval+5*time.Second
}

func (m *Mirror) apply(p store.Point) error {
	m.postOf.Store(p.ID, p.Payload.PostID)
	return m.index.Upsert(vecindex.Point{ID: p.ID, Vector: p.Vector, Meta: vecindex.Meta{
		ChannelID: p.Payload.ChannelID, TenantID: p.Payload.TenantID,
		PostedAt: p.Payload.PostedAt, ExpiresAt: p.Payload.ExpiresAt,
	}})
}

// Load reads the whole collection into the index.
func (m *Mirror) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	n := 0
	cursor, err := m.feed.Scan(ctx, m.collection, func(p store.Point) error {
		n++
		return m.apply(p)
	})
	if err != nil {
		return fmt.Errorf("vector mirror: load %s: %w", m.collection, err)
	}
	m.cursor = cursor
	m.lastSync.Store(time.Now().UnixNano())
	m.loaded.Store(true)
	mem := m.index.Memory()
	m.log.InfoContext(ctx, "vector mirror loaded", "collection", m.collection, "points", n,
		"took_ms", time.Since(start).Milliseconds(), "memory_bytes", mem.Total)
	return nil
}

// Refresh applies the changes since the last load or refresh.
func (m *Mirror) Refresh(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	cursor, err := m.feed.Changes(ctx, m.collection, m.cursor, func(c store.Change) error {
		n++
		if c.Deleted {
			m.index.Delete(c.ID)
			m.postOf.Delete(c.ID)
			return nil
		}
		return m.apply(c.Point)
	})
	if err != nil {
		return 0, fmt.Errorf("vector mirror: refresh %s: %w", m.collection, err)
	}
	m.cursor = cursor
	m.lastSync.Store(time.Now().UnixNano())
	return n, nil
}

// Run loads the collection and refreshes it until ctx ends. A failed load
// or refresh is logged and retried with a growing pause (up to a minute);
// searches meanwhile go to the store.
func (m *Mirror) Run(ctx context.Context) error {
	wait := m.interval
	for {
		var err error
		if !m.loaded.Load() {
			err = m.Load(ctx)
		} else {
			_, err = m.Refresh(ctx)
		}
		switch {
		case err == nil:
			wait = m.interval
		case ctx.Err() == nil:
			m.log.WarnContext(ctx, "vector mirror behind the store; searches use the store", "collection", m.collection, "retry_in", wait, "err", err)
			wait = min(2*wait, time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Nearest implements Vectors.
func (m *Mirror) Nearest(ctx context.Context, vec []float32, k int, f VectorFilter) ([]VectorHit, error) {
	if !m.Ready() {
		return StoreVectors{m.store, m.collection}.Nearest(ctx, vec, k, f)
	}
	hits, err := IndexVectors{Index: m.index}.Nearest(ctx, vec, k, f)
	if err != nil {
		return nil, err
	}
	out := hits[:0]
	for _, h := range hits {
		if post, ok := m.postOf.Load(h.PostID); ok {
			out = append(out, VectorHit{PostID: post.(string), Score: h.Score})
		}
	}
	return out, nil
}

// VectorOf implements Vectors.
func (m *Mirror) VectorOf(ctx context.Context, postID string) ([]float32, bool, error) {
	if m.Ready() {
		if v, ok := m.index.Vector(store.PointID(postID)); ok {
			return v, true, nil
		}
	}
	return m.store.Vector(ctx, m.collection, store.PointID(postID))
}

// PGExact reads exact vectors of many points in one query from the
// embedded backend's vectors table (migration 00004).
type PGExact struct {
	Pool       *pgxpool.Pool
	Collection string
}

// ExactVectors implements vecindex.ExactSource.
func (p PGExact) ExactVectors(ctx context.Context, ids []string) (map[string][]float32, error) {
	rows, err := p.Pool.Query(ctx, `SELECT point_id::text, embedding FROM vectors WHERE collection = $1 AND point_id = ANY($2::uuid[])`, p.Collection, ids)
	if err != nil {
		return nil, fmt.Errorf("read vectors: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]float32, len(ids))
	for rows.Next() {
		var id string
		var v []float32
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("read vectors: %w", err)
		}
		out[id] = v
	}
	return out, rows.Err()
}
