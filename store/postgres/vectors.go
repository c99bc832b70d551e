package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/store"
)

// VectorStore is the embedded store.VectorStore: vectors as real[] rows of
// the vectors table (migration 00004), one per collection and point.
//
// Without the pgvector extension, Search scores the filtered rows in SQL (an
// exact scan: fine for tests and small corpora); with it (detected at start)
// it casts to vector and orders by pgvector's cosine distance. Large
// deployments build an in-process index over the table instead: the store
// is a store.VectorFeed (a consistent Scan, then Changes since a cursor
// that is a transaction-id horizon, so no concurrent write is ever missed).
type VectorStore struct {
	pool     *pgxpool.Pool
	pgvector bool

	mu   sync.RWMutex
	dims map[string]int // collection → dimension, once known
}

var (
	_ store.VectorStore = (*VectorStore)(nil)
	_ store.VectorFeed  = (*VectorStore)(nil)
)

// NewVectorStore returns the store over pool (migrated) and detects the
// pgvector extension.
func NewVectorStore(ctx context.Context, pool *pgxpool.Pool) (*VectorStore, error) {
	var has bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&has)
	if err != nil {
		return nil, fmt.Errorf("postgres vector store: detect pgvector: %w", err)
	}
	return &VectorStore{pool: pool, pgvector: has, dims: map[string]int{}}, nil
}

// Pool is the store's connection pool.
func (s *VectorStore) Pool() *pgxpool.Pool { return s.pool }

// PGVector reports whether searches use the pgvector extension.
func (s *VectorStore) PGVector() bool { return s.pgvector }

// EnsureCollection implements store.VectorStore.
func (s *VectorStore) EnsureCollection(ctx context.Context, c store.Collection) error {
	if c.Name == "" || c.Dim <= 0 || c.Model == "" {
		return fmt.Errorf("postgres vector store: collection needs a name, a dimension and a model (got %+v)", c)
	}
	var (
		dim   int
		model string
	)
	// The INSERT ... ON CONFLICT DO UPDATE (a no-op update) returns the row
	// whether it was just created or already there, in one statement that
	// is safe against a concurrent creator.
	err := s.pool.QueryRow(ctx, `
		INSERT INTO vector_collections (name, dim, model) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
		RETURNING dim, model`, c.Name, c.Dim, c.Model).Scan(&dim, &model)
	if err != nil {
		return fmt.Errorf("postgres vector store: ensure collection %s: %w", c.Name, err)
	}
	if dim != c.Dim || model != c.Model {
		return &store.MismatchError{Collection: c.Name, HaveDim: dim, WantDim: c.Dim, HaveModel: model, WantModel: c.Model}
	}
	s.mu.Lock()
	s.dims[c.Name] = dim
	s.mu.Unlock()
	return nil
}

// dim returns the collection's dimension, reading it once.
func (s *VectorStore) dim(ctx context.Context, collection string) (int, error) {
	s.mu.RLock()
	d, ok := s.dims[collection]
	s.mu.RUnlock()
	if ok {
		return d, nil
	}
	err := s.pool.QueryRow(ctx, `SELECT dim FROM vector_collections WHERE name = $1`, collection).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres vector store: collection %s does not exist (EnsureCollection first)", collection)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres vector store: read collection %s: %w", collection, err)
	}
	s.mu.Lock()
	s.dims[collection] = d
	s.mu.Unlock()
	return d, nil
}

// Upsert implements store.VectorStore with one statement per call: the
// vectors travel as one flat real[] that SQL slices per row.
func (s *VectorStore) Upsert(ctx context.Context, collection string, points []store.Point) error {
	if len(points) == 0 {
		return nil
	}
	dim, err := s.dim(ctx, collection)
	if err != nil {
		return err
	}
	// A point id twice in one INSERT ... ON CONFLICT is an error; the last
	// one wins.
	seen := make(map[string]int, len(points))
	uniq := make([]store.Point, 0, len(points))
	for _, p := range points {
		if len(p.Vector) != dim {
			return fmt.Errorf("postgres vector store: point %s of post %s has %d dimensions, collection %s has %d: %w",
				p.ID, p.Payload.PostID, len(p.Vector), collection, dim, store.ErrCollectionMismatch)
		}
		if i, dup := seen[p.ID]; dup {
			uniq[i] = p
			continue
		}
		seen[p.ID] = len(uniq)
		uniq = append(uniq, p)
	}
	n := len(uniq)
	var (
		ids      = make([]string, n)
		postIDs  = make([]string, n)
		channels = make([]string, n)
		tenants  = make([]string, n)
		tags     = make([]string, n) // text[] literals: text[][] cannot be ragged
		posted   = make([]int64, n)
		expires  = make([]int64, n)
		shorts   = make([]string, n)
		urls     = make([]string, n)
		hashes   = make([]string, n)
		flat     = make([]float32, 0, n*dim)
	)
	for i, p := range uniq {
		ids[i], postIDs[i] = p.ID, p.Payload.PostID
		channels[i], tenants[i] = p.Payload.ChannelID, p.Payload.TenantID
		tags[i] = textArrayLiteral(p.Payload.Tags)
		posted[i], expires[i] = p.Payload.PostedAt, p.Payload.ExpiresAt
		shorts[i], urls[i] = p.Payload.TextShort, textArrayLiteral(p.Payload.URLs)
		hashes[i] = p.Payload.ContentHash
		flat = append(flat, p.Vector...)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO vectors (collection, point_id, post_id, channel_id, tenant_id, tags, posted_at, expires_at,
		                     text_short, urls, content_hash, embedding)
		SELECT $1, r.id::uuid, r.post_id, r.channel_id, r.tenant_id, r.tags::text[], r.posted_at, r.expires_at,
		       r.text_short, r.urls::text[], r.content_hash, ($13::real[])[((r.ord - 1) * $14 + 1):(r.ord * $14)]
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
		            $9::text[], $10::text[], $11::text[], $12::int[])
		     AS r(id, post_id, channel_id, tenant_id, tags, posted_at, expires_at, text_short, urls, content_hash, ord)
		ON CONFLICT (collection, point_id) DO UPDATE SET
		    post_id = EXCLUDED.post_id, channel_id = EXCLUDED.channel_id, tenant_id = EXCLUDED.tenant_id,
		    tags = EXCLUDED.tags, posted_at = EXCLUDED.posted_at, expires_at = EXCLUDED.expires_at,
		    text_short = EXCLUDED.text_short, urls = EXCLUDED.urls, content_hash = EXCLUDED.content_hash,
		    embedding = EXCLUDED.embedding, xid = pg_current_xact_id(), updated_at = now()`,
		collection, ids, postIDs, channels, tenants, tags, posted, expires, shorts, urls, hashes, ordinals(n), flat, dim)
	if err != nil {
		return fmt.Errorf("postgres vector store: upsert %d points into %s: %w", n, collection, err)
	}
	return nil
}

func ordinals(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i + 1)
	}
	return out
}

// textArrayLiteral renders list as a PostgreSQL array literal, quoting every
// element, so that a list of lists can travel as text[] and be cast back.
func textArrayLiteral(list []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range v {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

const payloadColumns = `point_id::text, post_id, channel_id, tenant_id, tags, posted_at, expires_at, text_short, urls, content_hash`

func scanPayload(row pgx.Row, extra ...any) (string, store.Payload, error) {
	var (
		id string
		p  store.Payload
	)
	dest := append([]any{&id, &p.PostID, &p.ChannelID, &p.TenantID, &p.Tags, &p.PostedAt, &p.ExpiresAt,
		&p.TextShort, &p.URLs, &p.ContentHash}, extra...)
	err := row.Scan(dest...)
	return id, p, err
}

// Search implements store.VectorStore.
func (s *VectorStore) Search(ctx context.Context, collection string, vector []float32, f store.Filter, limit int) ([]store.Hit, error) {
	if limit <= 0 {
		return nil, nil
	}
	dim, err := s.dim(ctx, collection)
	if err != nil {
		return nil, err
	}
	if len(vector) != dim {
		return nil, fmt.Errorf("postgres vector store: query vector has %d dimensions, collection %s has %d: %w",
			len(vector), collection, dim, store.ErrCollectionMismatch)
	}
	var qnorm float64
	for _, v := range vector {
		qnorm += float64(v) * float64(v)
	}
	qnorm = math.Sqrt(qnorm)
	if qnorm == 0 {
		return nil, errors.New("postgres vector store: query vector is zero")
	}
	args := []any{collection, vector, f.NowUnix(), limit}
	where := filterSQL(f, &args)
	var score string
	if s.pgvector {
		score = `(1 - (embedding::vector <=> $2::real[]::vector))::real`
	} else {
		args = append(args, qnorm)
		score = fmt.Sprintf(`((SELECT sum(a * b) FROM unnest(embedding, $2::real[]) AS t(a, b)) /
			NULLIF(sqrt((SELECT sum(a * a) FROM unnest(embedding) AS a)) * $%d, 0))::real`, len(args))
	}
	q := `SELECT ` + payloadColumns + `, score FROM (
		SELECT *, ` + score + ` AS score FROM vectors
		WHERE collection = $1 AND expires_at > $3` + where + `) v
		WHERE score IS NOT NULL ORDER BY score DESC, point_id LIMIT $4`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres vector store: search %s: %w", collection, err)
	}
	defer rows.Close()
	var hits []store.Hit
	for rows.Next() {
		var h store.Hit
		h.ID, h.Payload, err = scanPayload(rows, &h.Score)
		if err != nil {
			return nil, fmt.Errorf("postgres vector store: search %s: %w", collection, err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres vector store: search %s: %w", collection, err)
	}
	return hits, nil
}

// filterSQL renders the optional conditions of f as " AND ..." with their
// values appended to args (never into the text).
func filterSQL(f store.Filter, args *[]any) string {
	var b strings.Builder
	arg := func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	}
	if len(f.ChannelIDs) > 0 {
		b.WriteString(" AND channel_id = ANY(" + arg(f.ChannelIDs) + "::text[])")
	}
	if f.TenantID != "" {
		b.WriteString(" AND tenant_id = " + arg(f.TenantID))
	}
	if len(f.Tags) > 0 {
		b.WriteString(" AND tags && " + arg(f.Tags) + "::text[]")
	}
	if !f.PostedFrom.IsZero() {
		b.WriteString(" AND posted_at >= " + arg(f.PostedFrom.Unix()))
	}
	if !f.PostedTo.IsZero() {
		b.WriteString(" AND posted_at <= " + arg(f.PostedTo.Unix()))
	}
	return b.String()
}

// Vector implements store.VectorStore.
func (s *VectorStore) Vector(ctx context.Context, collection, id string) ([]float32, bool, error) {
	var vec []float32
	err := s.pool.QueryRow(ctx, `SELECT embedding FROM vectors WHERE collection = $1 AND point_id = $2::uuid`,
		collection, id).Scan(&vec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres vector store: read vector %s: %w", id, err)
	}
	return vec, true, nil
}

// Delete implements store.VectorStore; deleted points leave tombstones for
// the feed.
func (s *VectorStore) Delete(ctx context.Context, collection string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		WITH d AS (DELETE FROM vectors WHERE collection = $1 AND point_id = ANY($2::uuid[]) RETURNING collection, point_id)
		INSERT INTO vector_tombstones (collection, point_id) SELECT collection, point_id FROM d`, collection, ids)
	if err != nil {
		return fmt.Errorf("postgres vector store: delete %d points from %s: %w", len(ids), collection, err)
	}
	return nil
}

// DeleteExpired implements store.VectorStore.
func (s *VectorStore) DeleteExpired(ctx context.Context, collection string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH victims AS (
		    SELECT point_id FROM vectors WHERE collection = $1 AND expires_at < $2
		    ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED),
		d AS (DELETE FROM vectors v USING victims WHERE v.collection = $1 AND v.point_id = victims.point_id
		      RETURNING v.collection, v.point_id),
		t AS (INSERT INTO vector_tombstones (collection, point_id) SELECT collection, point_id FROM d)
		SELECT count(*) FROM d`, collection, before.Unix(), limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres vector store: delete expired points of %s: %w", collection, err)
	}
	return n, nil
}

// Check implements store.VectorStore.
func (s *VectorStore) Check(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres vector store: %w", err)
	}
	return nil
}

// Scan implements store.VectorFeed: every live point of the collection in
// one REPEATABLE READ snapshot. The returned cursor is the snapshot's xmin:
// every transaction below it had finished, so Changes from it sees all that
// the snapshot did not.
func (s *VectorStore) Scan(ctx context.Context, collection string, fn func(store.Point) error) (store.Cursor, error) {
	var cursor store.Cursor
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if cursor, err = snapshotXmin(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+payloadColumns+`, embedding FROM vectors WHERE collection = $1`, collection)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p store.Point
			if p.ID, p.Payload, err = scanPayload(rows, &p.Vector); err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("postgres vector store: scan %s: %w", collection, err)
	}
	return cursor, nil
}

// Changes implements store.VectorFeed: points written and tombstones left by
// transactions at or after since, in transaction order.
func (s *VectorStore) Changes(ctx context.Context, collection string, since store.Cursor, fn func(store.Change) error) (store.Cursor, error) {
	var cursor store.Cursor
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if cursor, err = snapshotXmin(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT * FROM (
			    SELECT false AS deleted, xid, `+payloadColumns+`, embedding
			    FROM vectors WHERE collection = $1 AND xid >= $2::text::xid8
			    UNION ALL
			    SELECT true, xid, point_id::text, '', '', '', '{}'::text[], 0::bigint, 0::bigint, '', '{}'::text[], '', '{}'::real[]
			    FROM vector_tombstones WHERE collection = $1 AND xid >= $2::text::xid8
			) c ORDER BY xid, deleted DESC`, collection, strconv.FormatUint(uint64(since), 10))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c   store.Change
				xid string
			)
			var p store.Payload
			err := rows.Scan(&c.Deleted, &xid, &c.ID, &p.PostID, &p.ChannelID, &p.TenantID, &p.Tags, &p.PostedAt,
				&p.ExpiresAt, &p.TextShort, &p.URLs, &p.ContentHash, &c.Vector)
			if err != nil {
				return err
			}
			c.Payload = p
			if c.Deleted {
				c.Vector = nil
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return since, fmt.Errorf("postgres vector store: changes of %s: %w", collection, err)
	}
	return cursor, nil
}

func snapshotXmin(ctx context.Context, tx pgx.Tx) (store.Cursor, error) {
	var s string
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&s); err != nil {
		return 0, fmt.Errorf("read snapshot xmin: %w", err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse snapshot xmin %q: %w", s, err)
	}
	return store.Cursor(v), nil
}
