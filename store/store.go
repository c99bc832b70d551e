// Package store defines the two index stores of the daemon behind small
// interfaces, so that the backend is chosen by configuration: a VectorStore
// (one point per post: its embedding and a payload to filter on) and a
// GraphStore (channels, posts, tags and web pages, and the edges between
// them). Backends live in sub-packages: store/postgres (the embedded
// default), store/qdrant and store/neo4j.
//
// The index stage writes through these interfaces; search reads through
// them (vector search, posts with a tag, related tags, similar posts) and
// cleanup deletes through them (expired points and posts, posts by id,
// orphan nodes), always in bounded batches.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Distance is the similarity measure of a collection. Only cosine is used:
// embedding models are trained for it.
const Distance = "cosine"

// Collection describes a vector collection: every vector in it has Dim
// components and was made by Model. Mixing vectors of two models in one
// collection makes every search wrong without an error, so backends record
// both and refuse a mismatch (ErrCollectionMismatch).
type Collection struct {
	Name  string
	Dim   int
	Model string
}

// ErrCollectionMismatch is returned by EnsureCollection when the collection
// exists with another dimension or model. The fix is a new collection name
// (or tenant template) for the new model, or an explicit re-index that drops
// the old collection first; never a silent mix of vectors.
var ErrCollectionMismatch = errors.New("vector collection was created for another embedding model")

// MismatchError details an ErrCollectionMismatch.
type MismatchError struct {
	Collection           string
	HaveDim, WantDim     int
	HaveModel, WantModel string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("vector collection %q holds %d-dimensional vectors of model %q, but the embedder is %q with %d dimensions: "+
		"use another collection name for the new model, or re-index (drop the collection) explicitly",
		e.Collection, e.HaveDim, e.HaveModel, e.WantModel, e.WantDim)
}

func (e *MismatchError) Unwrap() error { return ErrCollectionMismatch }

// TextShortLen is how many characters of the post text the payload keeps.
const TextShortLen = 500

// Payload is what a point carries besides its vector (spec section 5,
// index step 4). Times are unix seconds: expires_at is an integer so that
// Qdrant can index it and delete by range (that is how TTL works there).
type Payload struct {
	PostID      string   `json:"post_id"`
	ChannelID   string   `json:"channel_id"`
	TenantID    string   `json:"tenant_id"`
	Tags        []string `json:"tags"`
	PostedAt    int64    `json:"posted_at"`
	ExpiresAt   int64    `json:"expires_at"`
	TextShort   string   `json:"text_short"`
	URLs        []string `json:"urls"`
	ContentHash string   `json:"content_hash"`
}

// Point is one post in a vector collection. ID is the post's point id
// (PointID of its post_id).
type Point struct {
	ID      string
	Vector  []float32
	Payload Payload
}

// Filter narrows a vector search. Zero fields do not filter. Expired points
// (expires_at <= Now) never match: a point that is past its TTL but not yet
// swept must not surface.
type Filter struct {
	// ChannelIDs keeps points of any of these channels.
	ChannelIDs []string
	// TenantID keeps points of this tenant.
	TenantID string
	// Tags keeps points carrying any of these tags.
	Tags []string
	// PostedFrom and PostedTo bound posted_at (inclusive).
	PostedFrom, PostedTo time.Time
	// Now is the clock for the expiry condition; zero means time.Now().
	Now time.Time
}

// NowUnix is the filter's clock in unix seconds.
func (f Filter) NowUnix() int64 {
	if f.Now.IsZero() {
		return time.Now().Unix()
	}
	return f.Now.Unix()
}

// Hit is one search result; Score is the cosine similarity (1 = same
// direction).
type Hit struct {
	ID      string
	Score   float32
	Payload Payload
}

// VectorStore keeps one point per post. Implementations are safe for
// concurrent use. Every method names its collection, so that per-tenant
// collections need no separate store.
type VectorStore interface {
	// EnsureCollection creates the collection (Dim, cosine) if it does not
	// exist and records its model; it returns a *MismatchError when it
	// exists with another dimension or model.
	EnsureCollection(ctx context.Context, c Collection) error
	// Upsert writes points, replacing those with the same id, and returns
	// once they are durable and visible to searches (wait=true).
	Upsert(ctx context.Context, collection string, points []Point) error
	// Search returns the limit points most similar to vector that match f,
	// best first.
	Search(ctx context.Context, collection string, vector []float32, f Filter, limit int) ([]Hit, error)
	// Vector returns the stored vector of a point (for "similar posts");
	// found is false when there is no such point.
	Vector(ctx context.Context, collection, id string) (vec []float32, found bool, err error)
	// Delete removes points by id; missing ids are not an error.
	Delete(ctx context.Context, collection string, ids []string) error
	// DeleteExpired removes at most limit points whose expires_at is before
	// before and returns how many it removed; the caller repeats until it
	// returns fewer than limit, so no single call is unbounded.
	DeleteExpired(ctx context.Context, collection string, before time.Time, limit int) (int, error)
	// Check reports whether the backend answers (for /readyz).
	Check(ctx context.Context) error
}

// WebPage is a crawled page a post links to.
type WebPage struct {
	URL   string
	Title string
}

// GraphPost is one post with everything the graph holds about it. Upserting
// it replaces the post's TAGGED_AS and REFERS_TO edges with exactly Tags and
// Pages.
type GraphPost struct {
	PostID    string
	ChannelID string
	TenantID  string
	PostedAt  time.Time
	ExpiresAt time.Time
	Tags      []string
	Pages     []WebPage
}

// GraphCounts is what one upsert wrote: nodes and relationships merged
// (created or already there), as posts.indexed reports them.
type GraphCounts struct {
	Nodes         int `json:"nodes"`
	Relationships int `json:"relationships"`
}

// TagCount is a tag and how many posts it shares with the queried tag.
type TagCount struct {
	Tag   string
	Posts int
}

// TagQuery selects posts carrying a tag, newest first.
type TagQuery struct {
	Tag string
	// TenantID keeps posts of this tenant only; empty: all.
	TenantID string
	Limit    int
}

// OrphanCounts is what DeleteOrphans removed.
type OrphanCounts struct {
	Tags, Channels, WebPages int
}

// Total is the number of nodes removed.
func (o OrphanCounts) Total() int { return o.Tags + o.Channels + o.WebPages }

// GraphStore keeps the spec's graph: (:Channel)-[:HAS_POST]->(:Post),
// (:Post)-[:TAGGED_AS]->(:Tag), (:Post)-[:REFERS_TO]->(:WebPage).
// Implementations are safe for concurrent use.
type GraphStore interface {
	// EnsureSchema creates what the backend needs (uniqueness constraints,
	// tables are migrations' job); called once at start.
	EnsureSchema(ctx context.Context) error
	// UpsertPosts writes a batch of posts, their channels, tags and pages in
	// one transaction, removing each post's stale TAGGED_AS and REFERS_TO
	// edges in that same transaction.
	UpsertPosts(ctx context.Context, posts []GraphPost) (GraphCounts, error)
	// PostsWithTag returns ids of posts tagged q.Tag, newest first.
	PostsWithTag(ctx context.Context, q TagQuery) ([]string, error)
	// RelatedTags returns the tags that most often share a post with tag.
	RelatedTags(ctx context.Context, tag string, limit int) ([]TagCount, error)
	// PostsLinking returns ids of posts that refer to url ("what links here").
	PostsLinking(ctx context.Context, url string, limit int) ([]string, error)
	// DeletePosts removes posts (and their edges) by id; it returns how
	// many existed.
	DeletePosts(ctx context.Context, ids []string) (int, error)
	// DeleteExpired removes at most limit posts whose expires_at is before
	// before and returns how many; repeat until fewer than limit.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteOrphans removes at most limit Tag, Channel and WebPage nodes
	// (each) that no post refers to any more.
	DeleteOrphans(ctx context.Context, limit int) (OrphanCounts, error)
	// Check reports whether the backend answers (for /readyz).
	Check(ctx context.Context) error
}

// pointNamespace is the UUIDv5 namespace of point ids derived from post ids
// that are not UUIDs. Changing it would orphan every stored point.
var pointNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/assistant-dev/assistant/post"))

// PointID is the vector-store id of a post: the post id itself when it is a
// UUID (canonical lower-case form), else the UUIDv5 of the post id. Qdrant
// accepts only UUIDs and integers as ids.
func PointID(postID string) string {
	if u, err := uuid.Parse(postID); err == nil && len(postID) == 36 {
		return u.String()
	}
	return uuid.NewSHA1(pointNamespace, []byte(postID)).String()
}

// ShortText cuts s to TextShortLen characters (not bytes), never splitting a
// character.
func ShortText(s string) string {
	if utf8.RuneCountInString(s) <= TextShortLen {
		return s
	}
	n := 0
	for i := range s {
		if n == TextShortLen {
			return s[:i]
		}
		n++
	}
	return s
}

// Cursor is a position in a VectorFeed: changes committed after it are
// returned by Changes. Zero means "from the start".
type Cursor uint64

// Change is one entry of a VectorFeed: a point written (Deleted false) or
// removed (Deleted true, only ID set).
type Change struct {
	Point
	Deleted bool
}

// VectorFeed is implemented by backends that can hand their whole
// collection to an in-process index (the search service builds a fast or
// quantised index over the PostgreSQL backend this way) and then keep it up
// to date incrementally.
type VectorFeed interface {
	// Scan calls fn for every live point of the collection (a consistent
	// snapshot) and returns the cursor to pass to Changes afterwards.
	Scan(ctx context.Context, collection string, fn func(Point) error) (Cursor, error)
	// Changes calls fn for every point written or deleted since the cursor
	// (a point may be seen more than once: applying a change is idempotent)
	// and returns the cursor for the next call.
	Changes(ctx context.Context, collection string, since Cursor, fn func(Change) error) (Cursor, error)
}

// Opened is a deployment's index stores, opened: the vector store and the
// collection posts go to, the graph store, and what closes them.
type Opened struct {
	Vectors    VectorStore
	Collection string
	Graph      GraphStore
	// Close releases what was opened (not a shared pool).
	Close func()
}
