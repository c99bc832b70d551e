package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
	"github.com/assistant-dev/assistant/store/storetest"
)

// migratedPool returns a pool on a fresh, migrated schema of the real
// database.
func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestVectorStoreContract(t *testing.T) {
	t.Parallel()
	storetest.TestVectorStore(t, func(t *testing.T) store.VectorStore {
		s, err := postgres.NewVectorStore(context.Background(), migratedPool(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestGraphStoreContract(t *testing.T) {
	t.Parallel()
	storetest.TestGraphStore(t, func(t *testing.T) store.GraphStore {
		return postgres.NewGraphStore(migratedPool(t))
	})
}

// TestVectorFeed proves the feed an in-process index is built from: a scan,
// then the writes and deletions after it, nothing missed.
func TestVectorFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := postgres.NewVectorStore(ctx, migratedPool(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureCollection(ctx, store.Collection{Name: "posts", Dim: 3, Model: "m"}); err != nil {
		t.Fatal(err)
	}
	pt := func(id string, x float32) store.Point {
		return store.Point{ID: store.PointID(id), Vector: []float32{x, 1, 0}, Payload: store.Payload{PostID: id, Tags: []string{`a "quoted", {tag}`}}}
	}
	if err := s.Upsert(ctx, "posts", []store.Point{pt("a", 1), pt("b", 2)}); err != nil {
		t.Fatal(err)
	}
	var scanned []string
	cur, err := s.Scan(ctx, "posts", func(p store.Point) error {
		scanned = append(scanned, p.Payload.PostID)
		if len(p.Vector) != 3 || !slices.Equal(p.Payload.Tags, []string{`a "quoted", {tag}`}) {
			t.Errorf("scanned %+v", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(scanned)
	if !slices.Equal(scanned, []string{"a", "b"}) {
		t.Fatalf("scan = %v", scanned)
	}
	if err := s.Upsert(ctx, "posts", []store.Point{pt("c", 3), pt("a", 5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "posts", []string{store.PointID("b")}); err != nil {
		t.Fatal(err)
	}
	state := map[string]float32{}
	cur2, err := s.Changes(ctx, "posts", cur, func(c store.Change) error {
		if c.Deleted {
			state[c.ID] = -1
		} else {
			state[c.Payload.PostID] = c.Vector[0]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float32{"a": 5, "c": 3, store.PointID("b"): -1}
	if len(state) != len(want) {
		t.Fatalf("changes = %v, want %v", state, want)
	}
	for k, v := range want {
		if state[k] != v {
			t.Errorf("changes[%s] = %v, want %v", k, state[k], v)
		}
	}
	if cur2 < cur {
		t.Errorf("cursor went back: %d → %d", cur, cur2)
	}
	// Nothing written since: nothing (or only re-seen rows) comes back.
	n := 0
	if _, err := s.Changes(ctx, "posts", cur2, func(store.Change) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d changes after a quiet period", n)
	}
}
