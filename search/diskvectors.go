package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// DiskVectors is the one-shot process's path over the PostgreSQL vector
// backend without pgvector (`assistant search` with no daemon to ask): a
// snapshot file of the collection's int8 codes (vecindex.File), mapped
// rather than loaded, plus the store's changes since the snapshot
// (store.VectorFeed.Changes: usually none or a few, read through the xid
// index) held in a small in-memory index that overrides the file. The first
// search builds the file by one Scan of the collection; a later one that
// finds many changes writes a merged file, so the changes read per call
// stay few. Answers are those of the daemon's Mirror over the same points.
//
// The file is a cache: any process may rewrite it (a temporary file
// renamed), a file of another database, schema, collection, model or
// dimension is rebuilt, and when none can be written the process searches
// the points it has read in memory.
type DiskVectors struct {
	store      *postgres.VectorStore
	pool       *pgxpool.Pool
	collection string
	dim        int
	path       string
	log        *slog.Logger
	// MergeAt is how many changed points make a search write a merged
	// file (default max(1000, 2% of the file)).
	MergeAt int

	once sync.Once
	err  error
	// what the file holds, overridden by the changes since it
	file   *vecindex.File
	skip   []bool
	delta  *vecindex.Index
	postOf map[string]string // point id → post id of the changed points
	// mem answers instead of file when no file could be written.
	mem *vecindex.Index
	// Opened says how the first search found the file (for logs and
	// tests): "built", "merged" or "current".
	Opened string
}

// NewDiskVectors returns the path over st's collection of vectors of size
// dim; path is the snapshot file ("" = DefaultVectorFile's).
func NewDiskVectors(st *postgres.VectorStore, pool *pgxpool.Pool, collection string, dim int, path string, logger *slog.Logger) *DiskVectors {
	if logger == nil {
		logger = slog.Default()
	}
	return &DiskVectors{store: st, pool: pool, collection: collection, dim: dim, path: path, log: logger}
}

// collectionIdent reads what a snapshot must match: the server, database,
// schema, and the collection's creation, model and dimension.
func collectionIdent(ctx context.Context, pool *pgxpool.Pool, collection string) (string, error) {
	var (
		db, schema, model string
		dim               int
		created           time.Time
	)
	err := pool.QueryRow(ctx, `SELECT current_database(), current_schema(), c.model, c.dim, c.created_at
		FROM vector_collections c WHERE c.name = $1`, collection).Scan(&db, &schema, &model, &dim, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("vector collection %s does not exist (nothing indexed yet)", collection)
	}
	if err != nil {
		return "", fmt.Errorf("read vector collection %s: %w", collection, err)
	}
	cc := pool.Config().ConnConfig
	return fmt.Sprintf("postgres %s:%d db %s schema %s collection %s model %s dim %d created %s",
		cc.Host, cc.Port, db, schema, collection, model, dim, created.UTC().Format(time.RFC3339Nano)), nil
}

// DefaultVectorFile is where a collection's snapshot lives when
// search.vector_file is not set: the user's cache directory, one file per
// server, database, schema and collection.
func DefaultVectorFile(pool *pgxpool.Pool, collection string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the vector snapshot (set search.vector_file): %w", err)
	}
	cc := pool.Config().ConnConfig
	schema := cc.RuntimeParams["search_path"]
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s\x00%s", cc.Host, cc.Port, cc.Database, schema, collection))
	return filepath.Join(dir, "assistant", "vectors-"+hex.EncodeToString(sum[:8])+".idx"), nil
}

func (d *DiskVectors) open(ctx context.Context) error {
	d.once.Do(func() { d.err = d.load(ctx) })
	return d.err
}

func (d *DiskVectors) load(ctx context.Context) error {
	start := time.Now()
	ident, err := collectionIdent(ctx, d.pool, d.collection)
	if err != nil {
		return err
	}
	if d.path == "" {
		if d.path, err = DefaultVectorFile(d.pool, d.collection); err != nil {
			return err
		}
	}
	f, err := vecindex.OpenFile(d.path)
	switch {
	case err == nil && (f.Source().Ident != ident || f.Dim() != d.dim):
		_ = f.Close()
		f = nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		d.log.WarnContext(ctx, "vector snapshot unreadable; rebuilding it", "path", d.path, "err", err)
		f = nil
	}
	if f == nil {
		return d.build(ctx, ident, start)
	}
	d.file = f
	d.Opened = "current"
	n, err := d.applyChanges(ctx, f.Source().Cursor, ident)
	if err != nil {
		return err
	}
	d.log.DebugContext(ctx, "vector snapshot opened", "path", d.path, "points", f.Len(), "changes", n,
		"how", d.Opened, "took_ms", time.Since(start).Milliseconds())
	return nil
}

// build reads the whole collection and writes the snapshot.
func (d *DiskVectors) build(ctx context.Context, ident string, start time.Time) error {
	// Reading every vector takes seconds at 100,000 posts (~10 s): say why
	// this call is slow before it is, not only after.
	d.log.InfoContext(ctx, "building the vector snapshot (once per collection; later searches reuse it)",
		"path", d.path, "collection", d.collection)
	x := vecindex.New(d.dim, vecindex.Options{})
	postOf := map[string]string{}
	cursor, err := d.store.Scan(ctx, d.collection, func(p store.Point) error {
		postOf[p.ID] = p.Payload.PostID
		return x.Upsert(indexPoint(p))
	})
	if err != nil {
		return fmt.Errorf("vector snapshot: %w", err)
	}
	d.Opened = "built"
	if err := x.WriteFile(d.path, vecindex.FileSource{Cursor: uint64(cursor), Ident: ident}, func(id string) string { return postOf[id] }); err != nil {
		d.log.WarnContext(ctx, "vector snapshot not written; searching the vectors read into memory", "err", err)
		d.mem, d.postOf = x, postOf
		return nil
	}
	if d.file, err = vecindex.OpenFile(d.path); err != nil {
		d.mem, d.postOf = x, postOf
		return nil
	}
	d.delta, d.postOf = vecindex.New(d.dim, vecindex.Options{}), map[string]string{}
	d.log.InfoContext(ctx, "vector snapshot written", "path", d.path, "points", x.Len(), "took_ms", time.Since(start).Milliseconds())
	return nil
}

func indexPoint(p store.Point) vecindex.Point {
	return vecindex.Point{ID: p.ID, Vector: p.Vector, Meta: vecindex.Meta{
		ChannelID: p.Payload.ChannelID, TenantID: p.Payload.TenantID,
		PostedAt: p.Payload.PostedAt, ExpiresAt: p.Payload.ExpiresAt,
	}}
}

// applyChanges reads the changes since cursor into the delta, and writes a
// merged snapshot when they are many.
func (d *DiskVectors) applyChanges(ctx context.Context, cursor uint64, ident string) (int, error) {
	d.delta = vecindex.New(d.dim, vecindex.Options{})
	d.postOf = map[string]string{}
	d.skip = make([]bool, d.file.Len())
	n := 0
	next, err := d.store.Changes(ctx, d.collection, store.Cursor(cursor), func(c store.Change) error {
		n++
		if i, ok := d.file.Find(c.ID); ok {
			d.skip[i] = true
		}
		if c.Deleted {
			d.delta.Delete(c.ID)
			delete(d.postOf, c.ID)
			return nil
		}
		d.postOf[c.ID] = c.Payload.PostID
		return d.delta.Upsert(indexPoint(c.Point))
	})
	if err != nil {
		return 0, fmt.Errorf("vector snapshot: %w", err)
	}
	mergeAt := d.MergeAt
	if mergeAt <= 0 {
		mergeAt = max(1000, d.file.Len()/50)
	}
	if n < mergeAt {
		return n, nil
	}
	src := vecindex.FileSource{Cursor: uint64(next), Ident: ident}
	if err := d.file.Merge(d.path, src, d.skip, d.delta, func(id string) string { return d.postOf[id] }); err != nil {
		d.log.WarnContext(ctx, "vector snapshot not merged; searching it with the changes in memory", "err", err)
		return n, nil
	}
	f, err := vecindex.OpenFile(d.path)
	if err != nil {
		return n, nil // the open file and the delta still answer
	}
	_ = d.file.Close()
	d.file, d.skip, d.delta, d.postOf = f, nil, vecindex.New(d.dim, vecindex.Options{}), map[string]string{}
	d.Opened = "merged"
	return n, nil
}

// Close unmaps the snapshot.
func (d *DiskVectors) Close() error {
	if d.file != nil {
		return d.file.Close()
	}
	return nil
}

func indexFilter(f VectorFilter) vecindex.Filter {
	vf := vecindex.Filter{Channels: f.Channels, TenantID: f.TenantID}
	if !f.Since.IsZero() {
		vf.Since = f.Since.Unix()
	}
	if !f.Until.IsZero() {
		vf.Until = f.Until.Unix()
	}
	if !f.Now.IsZero() {
		vf.Now = f.Now.Unix()
	}
	return vf
}

// Nearest implements Vectors.
func (d *DiskVectors) Nearest(ctx context.Context, vec []float32, k int, f VectorFilter) ([]VectorHit, error) {
	if err := d.open(ctx); err != nil {
		return nil, err
	}
	vf := indexFilter(f)
	var hits []vecindex.FileHit
	if d.mem != nil {
		mh, err := d.mem.Search(ctx, vec, k, vf)
		if err != nil {
			return nil, err
		}
		for _, h := range mh {
			hits = append(hits, vecindex.FileHit{Hit: h, Label: d.postOf[h.ID]})
		}
	} else {
		fh, err := d.file.Search(ctx, vec, k, vf, d.skip, runtime.GOMAXPROCS(0))
		if err != nil {
			return nil, err
		}
		dh, err := d.delta.Search(ctx, vec, k, vf)
		if err != nil {
			return nil, err
		}
		hits = fh
		for _, h := range dh {
			hits = append(hits, vecindex.FileHit{Hit: h, Label: d.postOf[h.ID]})
		}
		sort.Slice(hits, func(a, b int) bool {
			if hits[a].Score != hits[b].Score {
				return hits[a].Score > hits[b].Score
			}
			return hits[a].ID < hits[b].ID
		})
	}
	out := make([]VectorHit, 0, min(k, len(hits)))
	for _, h := range hits {
		if len(out) == k {
			break
		}
		out = append(out, VectorHit{PostID: h.Label, Score: float64(h.Score)})
	}
	return out, nil
}

// VectorOf implements Vectors: one row of the store.
func (d *DiskVectors) VectorOf(ctx context.Context, postID string) ([]float32, bool, error) {
	return d.store.Vector(ctx, d.collection, store.PointID(postID))
}
