package search_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store"
)

// The one-shot path (a snapshot file plus the store's changes since it)
// answers exactly as the daemon's in-memory mirror of the same table:
// after the build, with changes applied over the file, after a merge, and
// when no file can be written at all.
func TestDiskVectorsAnswerAsTheMirror(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, st, emb, ids := storedSample(ctx, t)
	mirror := search.NewMirror(st, st, "posts", emb.Dimension(), search.MirrorOptions{Refresh: time.Hour})
	if err := mirror.Load(ctx); err != nil {
		t.Fatal(err)
	}
	queries, err := emb.Embed(ctx, []string{"Израиль Хезболла прекращение огня", "биткоин", "ядерная доктрина", "погода в Москве"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(ids); i += 50 {
		v, ok, err := st.Vector(ctx, "posts", store.PointID(ids[i]))
		if err != nil || !ok {
			t.Fatalf("vector of %d: %v %v", i, ok, err)
		}
		queries = append(queries, v)
	}
	now := time.Now()
	filters := []search.VectorFilter{
		{Now: now},
		{Now: now, Channels: []string{"-1001003921752"}},
		{Now: now, Since: time.Date(2024, 11, 26, 0, 0, 0, 0, time.UTC), Until: time.Date(2024, 11, 27, 0, 0, 0, 0, time.UTC)},
		{Now: now, Channels: []string{"no-such-channel"}},
	}
	same := func(what string, d search.Vectors) {
		t.Helper()
		for qi, q := range queries {
			for fi, f := range filters {
				want, err := mirror.Nearest(ctx, q, 10, f)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.Nearest(ctx, q, 10, f)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: query %d filter %d:\n disk   %v\n mirror %v", what, qi, fi, got, want)
				}
			}
		}
	}
	open := func(path string, mergeAt int) *search.DiskVectors {
		d := search.NewDiskVectors(st, pool, "posts", emb.Dimension(), path, nil)
		d.MergeAt = mergeAt
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cache", "posts.idx")

	d := open(path, 0)
	same("built", d)
	if d.Opened != "built" {
		t.Fatalf("first open: %s, want built", d.Opened)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	d = open(path, 0)
	same("reopened", d)
	if d.Opened != "current" {
		t.Fatalf("second open: %s, want current", d.Opened)
	}

	// Writes, an update, a delete and an expired point after the snapshot.
	v0 := queries[4]
	fresh := store.Point{ID: store.PointID("new-post"), Vector: v0, Payload: store.Payload{
		PostID: "new-post", ChannelID: "-1001003921752", PostedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}}
	expired := store.Point{ID: store.PointID("expired-post"), Vector: v0, Payload: store.Payload{
		PostID: "expired-post", ChannelID: "c", PostedAt: now.Unix(), ExpiresAt: now.Add(-time.Minute).Unix()}}
	moved, ok, err := st.Vector(ctx, "posts", store.PointID(ids[10]))
	if err != nil || !ok {
		t.Fatal(err)
	}
	updated := store.Point{ID: store.PointID(ids[50]), Vector: moved, Payload: store.Payload{
		PostID: ids[50], ChannelID: "moved", PostedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}}
	if err := st.Upsert(ctx, "posts", []store.Point{fresh, expired, updated}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "posts", []string{store.PointID(ids[0]), store.PointID(ids[100])}); err != nil {
		t.Fatal(err)
	}
	if n, err := mirror.Refresh(ctx); err != nil || n < 5 {
		t.Fatalf("mirror refresh: %d %v", n, err)
	}
	filters = append(filters, search.VectorFilter{Now: now, Channels: []string{"moved"}})
	d = open(path, 0)
	same("with changes", d)
	if d.Opened != "current" {
		t.Fatalf("open with few changes: %s, want current", d.Opened)
	}
	hits, err := d.Nearest(ctx, v0, 3, search.VectorFilter{Now: now})
	if err != nil || hits[0].PostID != "new-post" {
		t.Fatalf("the new point is not found first: %v %v", hits, err)
	}
	d = open(path, 1)
	same("merged", d)
	if d.Opened != "merged" {
		t.Fatalf("open with changes over MergeAt: %s, want merged", d.Opened)
	}
	// The feed may hand the same changes over again (its cursor is the
	// oldest transaction still running anywhere); they override the file
	// as before.
	d = open(path, 0)
	same("after the merge", d)
	if d.Opened != "current" {
		t.Fatalf("open after a merge: %s, want current", d.Opened)
	}

	// A damaged file is rebuilt; an unwritable place still answers.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	d = open(path, 0)
	same("rebuilt", d)
	if d.Opened != "built" {
		t.Fatalf("open of a damaged file: %s, want built", d.Opened)
	}
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	same("in memory", open(filepath.Join(blocker, "posts.idx"), 0))

	// A service over it finds what it found over the mirror.
	svc := search.New(pool, emb, open(path, 0), search.DefaultOptions())
	page, err := svc.Search(ctx, search.Query{Text: "Путин утвердил ядерную доктрину", Mode: search.Semantic, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Results) == 0 || page.Results[0].PostID != ids[87] {
		t.Fatalf("semantic search over the snapshot: %+v", page.Results)
	}
}
