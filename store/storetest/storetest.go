// Package storetest holds behaviour tests that every store backend must
// pass, so that the PostgreSQL backends and the Qdrant backend (against its
// in-process fake) are held to the same contract. Only tests import it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/store"
)

// unit returns a unit vector of dim with a 1 at i (mod dim) and a little of
// i+1, so that neighbours are similar and distinct ones are not.
func unit(dim, i int) []float32 {
	v := make([]float32, dim)
	v[i%dim] = 1
	v[(i+1)%dim] = 0.1
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	for j := range v {
		v[j] = float32(float64(v[j]) / math.Sqrt(n))
	}
	return v
}

// TestVectorStore runs the contract of store.VectorStore against the store
// newStore returns (a fresh, empty one for each call).
func TestVectorStore(t *testing.T, newStore func(t *testing.T) store.VectorStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const dim = 8
	now := time.Unix(1_800_000_000, 0)
	coll := store.Collection{Name: "posts", Dim: dim, Model: "m1"}

	t.Run("collection", func(t *testing.T) {
		s := newStore(t)
		if err := s.EnsureCollection(ctx, coll); err != nil {
			t.Fatalf("create: %v", err)
		}
		if err := s.EnsureCollection(ctx, coll); err != nil {
			t.Fatalf("ensure again: %v", err)
		}
		for _, other := range []store.Collection{{Name: "posts", Dim: dim * 2, Model: "m1"}, {Name: "posts", Dim: dim, Model: "m2"}} {
			err := s.EnsureCollection(ctx, other)
			var me *store.MismatchError
			if !errors.Is(err, store.ErrCollectionMismatch) || !errors.As(err, &me) {
				t.Fatalf("ensure %+v over %+v: err = %v, want a MismatchError", other, coll, err)
			}
			if me.HaveDim != dim || me.HaveModel != "m1" {
				t.Errorf("mismatch error names have %d/%s", me.HaveDim, me.HaveModel)
			}
		}
		// A vector of the wrong size is refused, not stored.
		err := s.Upsert(ctx, "posts", []store.Point{{ID: store.PointID("x"), Vector: make([]float32, dim+1), Payload: store.Payload{PostID: "x"}}})
		if err == nil {
			t.Fatal("upsert of a vector of the wrong size succeeded")
		}
	})

	t.Run("search filters and expiry", func(t *testing.T) {
		s := newStore(t)
		if err := s.EnsureCollection(ctx, coll); err != nil {
			t.Fatal(err)
		}
		var pts []store.Point
		for i := range 6 {
			id := fmt.Sprintf("post-%d", i)
			pts = append(pts, store.Point{ID: store.PointID(id), Vector: unit(dim, i), Payload: store.Payload{
				PostID: id, ChannelID: fmt.Sprintf("c%d", i%2), TenantID: "t1", Tags: []string{fmt.Sprintf("tag%d", i), "all"},
				PostedAt: now.Add(time.Duration(-i) * time.Hour).Unix(), ExpiresAt: now.Add(time.Hour).Unix(),
				TextShort: "text", URLs: []string{"https://e.example/" + id}, ContentHash: "h" + id,
			}})
		}
		pts[5].Payload.ExpiresAt = now.Add(-time.Second).Unix() // expired, not swept yet
		pts[4].Payload.TenantID = "t2"
		if err := s.Upsert(ctx, "posts", pts); err != nil {
			t.Fatalf("upsert: %v", err)
		}
		ids := func(hits []store.Hit) []string {
			var out []string
			for _, h := range hits {
				out = append(out, h.Payload.PostID)
			}
			return out
		}
		cases := []struct {
			name  string
			query int
			f     store.Filter
			limit int
			want  []string
		}{
			{"nearest first", 2, store.Filter{Now: now}, 1, []string{"post-2"}},
			{"expired never matches", 5, store.Filter{Now: now, Tags: []string{"tag5"}}, 3, nil},
			{"channel", 0, store.Filter{Now: now, ChannelIDs: []string{"c1"}}, 10, []string{"post-1", "post-3"}},
			{"tenant", 4, store.Filter{Now: now, TenantID: "t2"}, 10, []string{"post-4"}},
			{"any of tags", 0, store.Filter{Now: now, Tags: []string{"tag1", "tag3"}}, 10, []string{"post-1", "post-3"}},
			{"posted range", 0, store.Filter{Now: now, PostedFrom: now.Add(-2 * time.Hour), PostedTo: now.Add(-time.Hour)}, 10, []string{"post-1", "post-2"}},
		}
		for _, c := range cases {
			hits, err := s.Search(ctx, "posts", unit(dim, c.query), c.f, c.limit)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got := ids(hits)
			if c.name != "nearest first" {
				slices.Sort(got)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
		hits, err := s.Search(ctx, "posts", unit(dim, 3), store.Filter{Now: now}, 1)
		if err != nil || len(hits) != 1 {
			t.Fatalf("search: %v %v", hits, err)
		}
		h := hits[0]
		if h.ID != store.PointID("post-3") || math.Abs(float64(h.Score)-1) > 1e-4 {
			t.Errorf("self hit = %s score %v", h.ID, h.Score)
		}
		want := pts[3].Payload
		if h.Payload.ExpiresAt != want.ExpiresAt || h.Payload.PostedAt != want.PostedAt || h.Payload.ContentHash != want.ContentHash ||
			!slices.Equal(h.Payload.Tags, want.Tags) || !slices.Equal(h.Payload.URLs, want.URLs) || h.Payload.ChannelID != "c1" {
			t.Errorf("payload = %+v, want %+v", h.Payload, want)
		}

		vec, ok, err := s.Vector(ctx, "posts", store.PointID("post-2"))
		if err != nil || !ok || len(vec) != dim || math.Abs(float64(vec[2])-float64(unit(dim, 2)[2])) > 1e-6 {
			t.Errorf("vector = %v %v %v", vec, ok, err)
		}
		if _, ok, err := s.Vector(ctx, "posts", store.PointID("nope")); ok || err != nil {
			t.Errorf("missing vector: ok=%v err=%v", ok, err)
		}

		// Replacing a point keeps one point per id.
		pts[0].Payload.Tags = []string{"new"}
		if err := s.Upsert(ctx, "posts", pts[:1]); err != nil {
			t.Fatal(err)
		}
		hits, err = s.Search(ctx, "posts", unit(dim, 0), store.Filter{Now: now, Tags: []string{"new"}}, 10)
		if err != nil || len(hits) != 1 || hits[0].Payload.PostID != "post-0" {
			t.Errorf("after replace: %v %v", ids(hits), err)
		}
		hits, err = s.Search(ctx, "posts", unit(dim, 0), store.Filter{Now: now, Tags: []string{"tag0"}}, 10)
		if err != nil || len(hits) != 0 {
			t.Errorf("old tag still matches: %v %v", ids(hits), err)
		}

		if err := s.Delete(ctx, "posts", []string{store.PointID("post-1"), store.PointID("missing")}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Vector(ctx, "posts", store.PointID("post-1")); ok {
			t.Error("deleted point still there")
		}
	})

	t.Run("delete expired in batches", func(t *testing.T) {
		s := newStore(t)
		if err := s.EnsureCollection(ctx, coll); err != nil {
			t.Fatal(err)
		}
		var pts []store.Point
		for i := range 7 {
			exp := now.Add(-time.Duration(i+1) * time.Minute) // expired
			if i >= 5 {
				exp = now.Add(time.Minute)
			}
			id := fmt.Sprintf("p%d", i)
			pts = append(pts, store.Point{ID: store.PointID(id), Vector: unit(dim, i), Payload: store.Payload{PostID: id, ExpiresAt: exp.Unix()}})
		}
		if err := s.Upsert(ctx, "posts", pts); err != nil {
			t.Fatal(err)
		}
		var got []int
		for {
			n, err := s.DeleteExpired(ctx, "posts", now, 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if n < 2 {
				break
			}
		}
		if !slices.Equal(got, []int{2, 2, 1}) {
			t.Errorf("batches deleted %v, want [2 2 1]", got)
		}
		for i, p := range pts {
			_, ok, err := s.Vector(ctx, "posts", p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i >= 5) {
				t.Errorf("point %d present = %v", i, ok)
			}
		}
	})

	t.Run("check", func(t *testing.T) {
		if err := newStore(t).Check(ctx); err != nil {
			t.Errorf("check: %v", err)
		}
	})
}
