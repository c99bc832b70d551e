package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/store"
)

// TestGraphStore runs the contract of store.GraphStore against the store
// newStore returns (a fresh, empty one for each call).
func TestGraphStore(t *testing.T, newStore func(t *testing.T) store.GraphStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Unix(1_800_000_000, 0).UTC()
	post := func(id, channel string, hoursAgo int, tags []string, pages ...store.WebPage) store.GraphPost {
		return store.GraphPost{PostID: id, ChannelID: channel, TenantID: "t1",
			PostedAt: now.Add(-time.Duration(hoursAgo) * time.Hour), ExpiresAt: now.Add(time.Duration(24-hoursAgo) * time.Hour),
			Tags: tags, Pages: pages}
	}

	t.Run("upsert queries and stale edges", func(t *testing.T) {
		g := newStore(t)
		if err := g.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
		page := store.WebPage{URL: "https://go.dev/blog", Title: "Go blog"}
		counts, err := g.UpsertPosts(ctx, []store.GraphPost{
			post("a", "c1", 1, []string{"Go", "релиз"}, page),
			post("b", "c1", 2, []string{"Go", "GC"}),
			post("c", "c2", 3, []string{"Go", "релиз", "GC", "GC", ""}, page),
		})
		if err != nil {
			t.Fatalf("upsert: %v", err)
		}
		// nodes: 3 posts + 2 channels + 3 tags + 1 page; edges: 3 HAS_POST + 7 TAGGED_AS + 2 REFERS_TO
		if counts != (store.GraphCounts{Nodes: 9, Relationships: 12}) {
			t.Errorf("counts = %+v", counts)
		}
		ids, err := g.PostsWithTag(ctx, store.TagQuery{Tag: "Go", Limit: 10})
		if err != nil || !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Errorf("posts with Go = %v %v (want newest first)", ids, err)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "Go", TenantID: "other", Limit: 10}); len(ids) != 0 {
			t.Errorf("other tenant sees %v", ids)
		}
		rel, err := g.RelatedTags(ctx, "Go", 10)
		if err != nil || !slices.Equal(rel, []store.TagCount{{Tag: "GC", Posts: 2}, {Tag: "релиз", Posts: 2}}) {
			t.Errorf("related to Go = %v %v", rel, err)
		}
		ids, err = g.PostsLinking(ctx, page.URL, 10)
		if err != nil || !slices.Equal(ids, []string{"a", "c"}) {
			t.Errorf("linking = %v %v", ids, err)
		}

		// Post a changes its tags and drops its link: exactly the new edges.
		if _, err := g.UpsertPosts(ctx, []store.GraphPost{post("a", "c1", 1, []string{"Rust"})}); err != nil {
			t.Fatal(err)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "Go", Limit: 10}); !slices.Equal(ids, []string{"b", "c"}) {
			t.Errorf("after retag, posts with Go = %v", ids)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "Rust", Limit: 10}); !slices.Equal(ids, []string{"a"}) {
			t.Errorf("after retag, posts with Rust = %v", ids)
		}
		if ids, _ := g.PostsLinking(ctx, page.URL, 10); !slices.Equal(ids, []string{"c"}) {
			t.Errorf("after retag, linking = %v", ids)
		}

		// Orphans: a's old tags are still used by others; Rust is used; none
		// is orphaned until c and b go.
		if n, err := g.DeletePosts(ctx, []string{"b", "c", "missing"}); err != nil || n != 2 {
			t.Fatalf("delete posts: %d %v", n, err)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "Go", Limit: 10}); len(ids) != 0 {
			t.Errorf("deleted posts still tagged: %v", ids)
		}
		oc, err := g.DeleteOrphans(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if oc != (store.OrphanCounts{Tags: 3, Channels: 1, WebPages: 1}) {
			t.Errorf("orphans = %+v, want Go, GC, релиз, c2 and the page", oc)
		}
		if oc, _ := g.DeleteOrphans(ctx, 100); oc.Total() != 0 {
			t.Errorf("second orphan sweep removed %+v", oc)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "Rust", Limit: 10}); !slices.Equal(ids, []string{"a"}) {
			t.Errorf("orphan sweep touched a live post: %v", ids)
		}
	})

	t.Run("delete expired in batches", func(t *testing.T) {
		g := newStore(t)
		var posts []store.GraphPost
		for i, id := range []string{"p1", "p2", "p3", "p4"} {
			p := post(id, "c", 0, []string{"x"})
			p.ExpiresAt = now.Add(time.Duration(i-3) * time.Hour) // p4 not expired
			posts = append(posts, p)
		}
		if _, err := g.UpsertPosts(ctx, posts); err != nil {
			t.Fatal(err)
		}
		var got []int
		for {
			n, err := g.DeleteExpired(ctx, now.Add(-time.Minute), 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if n < 2 {
				break
			}
		}
		if !slices.Equal(got, []int{2, 1}) {
			t.Errorf("batches = %v, want [2 1]", got)
		}
		if ids, _ := g.PostsWithTag(ctx, store.TagQuery{Tag: "x", Limit: 10}); !slices.Equal(ids, []string{"p4"}) {
			t.Errorf("left = %v", ids)
		}
		if err := g.Check(ctx); err != nil {
			t.Error(err)
		}
	})
}
