package vecindex

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// The assembly kernel agrees with the portable one for every dimension
// shape it can see, including extreme codes.
func TestDotsKernelMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dim := range []int{16, 32, 48, 384, 1024, 1040} {
		for _, n := range []int{1, 3, 513} {
			q := make([]int16, dim)
			codes := make([]int8, n*dim)
			for i := range q {
				q[i] = int16(r.IntN(2*queryScale+1) - queryScale)
			}
			for i := range codes {
				codes[i] = int8(r.IntN(255) - 127)
			}
			codes[0], q[0] = -127, -queryScale
			got, want := make([]int32, n), make([]int32, n)
			dots(q, codes, dim, got)
			dotsGeneric(q, codes, dim, want)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("dim %d n %d: vector %d: kernel %d, generic %d", dim, n, i, got[i], want[i])
				}
			}
		}
	}
}

func recallAt(t *testing.T, x *Index, queries [][]float32, k int, f Filter) float64 {
	t.Helper()
	var found, total int
	for _, q := range queries {
		got, err := x.Search(context.Background(), q, k, f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := x.ExactSearch(q, k, f)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, h := range got {
			in[h.ID] = true
		}
		for _, h := range want {
			total++
			if in[h.ID] {
				found++
			}
		}
	}
	if total == 0 {
		return 1
	}
	return float64(found) / float64(total)
}

func TestSearchRecallFiltersAndUpdates(t *testing.T) {
	const dim, n = 96, 40000 // past the parallel-scan threshold
	r := rand.New(rand.NewPCG(3, 4))
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keepExact=%v", keep), func(t *testing.T) {
			x := New(dim, Options{KeepExact: true})
			approx := New(dim, Options{KeepExact: keep})
			var pts []Point
			for i := range n {
				pts = append(pts, Point{
					ID:     fmt.Sprintf("p%d", i),
					Vector: randVec(r, dim),
					Meta:   Meta{ChannelID: fmt.Sprintf("c%d", i%5), PostedAt: int64(i), ExpiresAt: int64(n + i)},
				})
			}
			if err := x.Upsert(pts...); err != nil {
				t.Fatal(err)
			}
			if err := approx.Upsert(pts...); err != nil {
				t.Fatal(err)
			}
			var queries [][]float32
			for range 30 {
				queries = append(queries, randVec(r, dim))
			}
			// Recall of the approximate index against the exact scan.
			var found, total int
			for _, q := range queries {
				got, _ := approx.Search(context.Background(), q, 10, Filter{})
				want, _ := x.ExactSearch(q, 10, Filter{})
				in := map[string]bool{}
				for _, h := range got {
					in[h.ID] = true
				}
				for _, h := range want {
					total++
					if in[h.ID] {
						found++
					}
				}
			}
			if rec := float64(found) / float64(total); rec < 0.95 {
				t.Fatalf("recall@10 = %.3f, want >= 0.95", rec)
			}

			f := Filter{Channels: []string{"c2"}, Since: 1000, Until: 30000, Now: n + 5000}
			for _, q := range queries[:5] {
				hits, err := approx.Search(context.Background(), q, 20, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) != 20 {
					t.Fatalf("filtered search returned %d hits, want 20", len(hits))
				}
				for _, h := range hits {
					var i int
					fmt.Sscanf(h.ID, "p%d", &i)
					if i%5 != 2 || i < 5000 || i > 30000 { // expires_at = n+i must be > n+5000
						t.Fatalf("hit %s passes no filter (channel c%d)", h.ID, i%5)
					}
				}
			}
			if hits, _ := approx.Search(context.Background(), queries[0], 5, Filter{Channels: []string{"nope"}}); len(hits) != 0 {
				t.Fatalf("unknown channel matched %d points", len(hits))
			}

			// A point searched by its own vector comes first; after a
			// delete it is gone, after a re-upsert it is back.
			self := pts[123]
			hits, _ := approx.Search(context.Background(), self.Vector, 1, Filter{})
			if hits[0].ID != self.ID || hits[0].Score < 0.99 {
				t.Fatalf("self search = %+v", hits)
			}
			approx.Delete(self.ID, "unknown")
			if approx.Len() != n-1 {
				t.Fatalf("len after delete = %d", approx.Len())
			}
			hits, _ = approx.Search(context.Background(), self.Vector, 1, Filter{})
			if hits[0].ID == self.ID {
				t.Fatal("deleted point returned")
			}
			// The point moved into the hole is still found by its vector.
			last := pts[n-1]
			hits, _ = approx.Search(context.Background(), last.Vector, 1, Filter{})
			if hits[0].ID != last.ID {
				t.Fatalf("moved point lost: %+v", hits)
			}
			moved := self
			moved.Vector = last.Vector
			if err := approx.Upsert(moved); err != nil {
				t.Fatal(err)
			}
			hits, _ = approx.Search(context.Background(), last.Vector, 2, Filter{})
			if len(hits) != 2 || hits[1].Score < 0.99 {
				t.Fatalf("re-upserted point not found: %+v", hits)
			}
			if m := approx.Memory(); m.Points != n || m.Codes < int64(n*dim) {
				t.Fatalf("memory = %+v", m)
			}
		})
	}
}

// TestZeroVectorIsLeftOut: an embedder's zero vector (a post with nothing to
// embed) neither fails the upsert — a collection holding one must still
// load — nor ranks; it replaces an earlier vector of its id by none.
func TestZeroVectorIsLeftOut(t *testing.T) {
	x := New(4, Options{})
	if err := x.Upsert(Point{ID: "a", Vector: []float32{1, 0, 0, 0}}, Point{ID: "b", Vector: []float32{0, 1, 0, 0}}); err != nil {
		t.Fatal(err)
	}
	if err := x.Upsert(Point{ID: "z", Vector: make([]float32, 4)}, Point{ID: "a", Vector: make([]float32, 4)}, Point{ID: "c", Vector: []float32{0, 0, 1, 0}}); err != nil {
		t.Fatalf("zero vectors failed the upsert: %v", err)
	}
	if x.Len() != 2 {
		t.Fatalf("%d points, want 2 (b, c): the zero vectors are left out and a's earlier vector removed", x.Len())
	}
	hits, err := x.Search(context.Background(), []float32{1, 1, 1, 1}, 10, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.ID == "a" || h.ID == "z" {
			t.Fatalf("a zero-vector point ranked: %+v", hits)
		}
	}
}

func TestUpsertRejectsBadVectors(t *testing.T) {
	x := New(4, Options{})
	if err := x.Upsert(Point{ID: "a", Vector: []float32{1, 2}}); err == nil {
		t.Fatal("wrong dimension accepted")
	}
	nan := float32(math.NaN())
	if err := x.Upsert(Point{ID: "a", Vector: []float32{1, nan, 0, 0}}); err == nil {
		t.Fatal("non-finite vector accepted")
	}
	if _, err := x.Search(context.Background(), make([]float32, 4), 3, Filter{}); err == nil {
		t.Fatal("zero query accepted")
	}
}

type mapSource map[string][]float32

func (m mapSource) ExactVectors(_ context.Context, ids []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	for _, id := range ids {
		if v, ok := m[id]; ok {
			out[id] = v
		}
	}
	return out, nil
}

// With an ExactSource, the re-rank scores are the exact cosines.
func TestExactSourceRerank(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := mapSource{}
	x := New(32, Options{Exact: src})
	for i := range 200 {
		v := randVec(r, 32)
		id := fmt.Sprintf("p%d", i)
		src[id] = v
		if err := x.Upsert(Point{ID: id, Vector: v}); err != nil {
			t.Fatal(err)
		}
	}
	q := src["p7"]
	hits, err := x.Search(context.Background(), q, 3, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if hits[0].ID != "p7" || hits[0].Score < 0.99999 {
		t.Fatalf("exact re-rank: %+v", hits)
	}
}

// BenchmarkSearch100k times one k=10 search over 100,000 384-d points and
// reports the p50 and p99 of the individual searches, for one scanning
// goroutine and for two.
func BenchmarkSearch100k(b *testing.B) {
	const dim, n = 384, 100000
	r := rand.New(rand.NewPCG(7, 8))
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{ID: fmt.Sprintf("p%d", i), Vector: randVec(r, dim)}
	}
	queries := make([][]float32, 64)
	for i := range queries {
		queries[i] = randVec(r, dim)
	}
	for _, parallel := range []int{1, 2} {
		x := New(dim, Options{Parallel: parallel})
		if err := x.Upsert(pts...); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			var lat []time.Duration
			i := 0
			for b.Loop() {
				t := time.Now()
				if _, err := x.Search(context.Background(), queries[i%len(queries)], 10, Filter{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
				i++
			}
			sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(x.Memory().Total)/(1<<20), "MiB")
		})
	}
}
