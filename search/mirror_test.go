package search_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
)

// The mirror of the real PostgreSQL vector backend answers like the
// backend's exact scan, follows writes and deletes, and never returns an
// expired point; a service over it finds the expected posts.
func TestMirrorFollowsPostgresVectorStore(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, st, emb, ids := storedSample(ctx, t)
	m := search.NewMirror(st, st, "posts", emb.Dimension(), search.MirrorOptions{
		Refresh: time.Hour, Index: vecindex.Options{Exact: search.PGExact{Pool: pool, Collection: "posts"}},
	})
	if m.Ready() {
		t.Fatal("mirror ready before its first load")
	}
	vecOf := func(i int) []float32 {
		v, ok, err := st.Vector(ctx, "posts", store.PointID(ids[i]))
		if err != nil || !ok {
			t.Fatalf("vector of %d: %v %v", i, ok, err)
		}
		return v
	}
	// Before the load the store answers.
	hits, err := m.Nearest(ctx, vecOf(73), 3, search.VectorFilter{Now: time.Now()})
	if err != nil || len(hits) != 3 || hits[0].PostID != ids[73] {
		t.Fatalf("fallback search: %v %v", hits, err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if !m.Ready() || m.Index().Len() != len(ids) {
		t.Fatalf("after load: ready %v, %d points", m.Ready(), m.Index().Len())
	}
	exact := search.StoreVectors{Store: st, Collection: "posts"}
	found, total := 0, 0
	for i := 0; i < len(ids); i += 25 {
		f := search.VectorFilter{Now: time.Now()}
		got, err := m.Nearest(ctx, vecOf(i), 10, f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := exact.Nearest(ctx, vecOf(i), 10, f)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].PostID != want[0].PostID {
			t.Fatalf("query %d: top hit %s, exact %s", i, got[0].PostID, want[0].PostID)
		}
		for _, w := range want {
			total++
			if slices.ContainsFunc(got, func(h search.VectorHit) bool { return h.PostID == w.PostID }) {
				found++
			}
		}
	}
	if rec := float64(found) / float64(total); rec < 0.95 {
		t.Fatalf("mirror recall@10 against the store's exact scan = %.3f", rec)
	}

	// Writes, deletes and expiry reach the mirror on Refresh.
	v73 := vecOf(73)
	newPoint := store.Point{ID: store.PointID("new-post"), Vector: v73, Payload: store.Payload{
		PostID: "new-post", ChannelID: "c", PostedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()}}
	expired := store.Point{ID: store.PointID("expired-post"), Vector: v73, Payload: store.Payload{
		PostID: "expired-post", ChannelID: "c", PostedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(-time.Minute).Unix()}}
	if err := st.Upsert(ctx, "posts", []store.Point{newPoint, expired}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "posts", []string{store.PointID(ids[73])}); err != nil {
		t.Fatal(err)
	}
	n, err := m.Refresh(ctx)
	if err != nil || n < 3 {
		t.Fatalf("refresh applied %d changes: %v", n, err)
	}
	hits, err = m.Nearest(ctx, v73, 5, search.VectorFilter{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, h := range hits {
		got = append(got, h.PostID)
	}
	if got[0] != "new-post" || slices.Contains(got, ids[73]) || slices.Contains(got, "expired-post") {
		t.Fatalf("after refresh: %v", got)
	}
	if v, ok, err := m.VectorOf(ctx, "new-post"); err != nil || !ok || len(v) != emb.Dimension() {
		t.Fatalf("VectorOf new post: %v %v", ok, err)
	}

	// A service over the mirror: semantic search through the real stores.
	svc := search.New(pool, emb, m, search.DefaultOptions())
	page, err := svc.Search(ctx, search.Query{Text: "Путин утвердил ядерную доктрину", Mode: search.Semantic, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Results) == 0 || page.Results[0].PostID != ids[87] {
		t.Fatalf("semantic search over the mirror: %+v", page.Results)
	}
}
