package vecindex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// filePoints builds n points over 5 channels and 2 tenants, their ids
// shuffled.
func filePoints(r *rand.Rand, n, dim int, prefix string) []Point {
	pts := make([]Point, n)
	perm := r.Perm(n) // ids not in insertion order
	for i := range pts {
		pts[i] = Point{ID: fmt.Sprintf("%s%06d", prefix, perm[i]), Vector: randVec(r, dim),
			Meta: Meta{ChannelID: fmt.Sprintf("c%d", i%5), TenantID: []string{"", "acme"}[i%2],
				PostedAt: int64(i), ExpiresAt: int64(n + i)}}
	}
	return pts
}

func label(id string) string { return "post-" + id }

// fileFilters are the filters both searches are compared under.
var fileFilters = []Filter{
	{},
	{Channels: []string{"c1", "c3"}},
	{TenantID: "acme", Since: 100, Until: 2000},
	{Now: 3000},
	{Channels: []string{"nowhere"}},
}

// sameHits compares an in-memory index's answer with the file's.
func sameHits(t *testing.T, what string, want []Hit, got []FileHit) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d hits from the index, %d from the file", what, len(want), len(got))
	}
	for i := range want {
		if want[i].ID != got[i].ID || want[i].Score != got[i].Score || got[i].Label != label(want[i].ID) {
			t.Fatalf("%s: hit %d: index %+v, file %+v", what, i, want[i], got[i])
		}
	}
}

// A snapshot file answers exactly as the index it was written from: same
// ids, same scores, same order, under every filter, scanned in one part or
// several.
func TestFileAnswersAsTheIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const dim, n = 40, 40_000
	x := New(dim, Options{})
	if err := x.Upsert(filePoints(r, n, dim, "p")...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v.idx")
	if err := x.WriteFile(path, FileSource{Cursor: 42, Ident: "coll/model"}, label); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Len() != n || f.Dim() != dim || f.Source() != (FileSource{Cursor: 42, Ident: "coll/model"}) {
		t.Fatalf("file: %d points, dim %d, source %+v", f.Len(), f.Dim(), f.Source())
	}
	for qi := range 20 {
		q := randVec(r, dim)
		for fi, flt := range fileFilters {
			want, err := x.Search(context.Background(), q, 10, flt)
			if err != nil {
				t.Fatal(err)
			}
			for _, parts := range []int{1, 3} {
				got, err := f.Search(context.Background(), q, 10, flt, nil, parts)
				if err != nil {
					t.Fatal(err)
				}
				sameHits(t, fmt.Sprintf("query %d filter %d parts %d", qi, fi, parts), want, got)
			}
		}
	}
	if i, ok := f.Find(x.ids[123]); !ok || f.ID(i) != x.ids[123] || f.Label(i) != label(x.ids[123]) {
		t.Fatalf("Find(%s) = %d %v", x.ids[123], i, ok)
	}
	if _, ok := f.Find("nope"); ok {
		t.Fatal("Find of an unknown id succeeded")
	}
}

// Skipping points and merging a delta give what an index with the same
// changes applied gives, and the merged file says so too.
func TestFileSkipAndMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const dim, n = 32, 3000
	pts := filePoints(r, n, dim, "p")
	base := New(dim, Options{})
	if err := base.Upsert(pts...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "v.idx")
	if err := base.WriteFile(path, FileSource{Cursor: 1}, label); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// The changes: 100 points replaced, 50 deleted, 200 new.
	want := New(dim, Options{})
	if err := want.Upsert(pts...); err != nil {
		t.Fatal(err)
	}
	delta := New(dim, Options{})
	skip := make([]bool, f.Len())
	for i := range 100 {
		p := pts[i*7]
		p.Vector = randVec(r, dim)
		p.Meta.ChannelID = "c-moved"
		for _, x := range []*Index{want, delta} {
			if err := x.Upsert(p); err != nil {
				t.Fatal(err)
			}
		}
		j, ok := f.Find(p.ID)
		if !ok {
			t.Fatalf("point %s not in the file", p.ID)
		}
		skip[j] = true
	}
	for i := range 50 {
		id := pts[i*7+3].ID
		want.Delete(id)
		j, _ := f.Find(id)
		skip[j] = true
	}
	added := filePoints(r, 200, dim, "q")
	for _, x := range []*Index{want, delta} {
		if err := x.Upsert(added...); err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(dir, "merged.idx")
	if err := f.Merge(merged, FileSource{Cursor: 9, Ident: "again"}, skip, delta, label); err != nil {
		t.Fatal(err)
	}
	m, err := OpenFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Len() != want.Len() || m.Source().Cursor != 9 {
		t.Fatalf("merged file: %d points (want %d), cursor %d", m.Len(), want.Len(), m.Source().Cursor)
	}
	flts := append(slices.Clone(fileFilters), Filter{Channels: []string{"c-moved"}})
	for qi := range 20 {
		q := randVec(r, dim)
		for fi, flt := range flts {
			exp, err := want.Search(context.Background(), q, 10, flt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Search(context.Background(), q, 10, flt, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			sameHits(t, fmt.Sprintf("merged: query %d filter %d", qi, fi), exp, got)
			// The unmerged file with skip, plus the delta, holds the same
			// points: the union of both answers' best 10 is want's.
			fh, err := f.Search(context.Background(), q, 10, flt, skip, 1)
			if err != nil {
				t.Fatal(err)
			}
			dh, err := delta.Search(context.Background(), q, 10, flt)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range dh {
				fh = append(fh, FileHit{Hit: h, Label: label(h.ID)})
			}
			slices.SortFunc(fh, func(a, b FileHit) int {
				if a.Score != b.Score {
					if a.Score > b.Score {
						return -1
					}
					return 1
				}
				return cmpString(a.ID, b.ID)
			})
			sameHits(t, fmt.Sprintf("skip+delta: query %d filter %d", qi, fi), exp, fh[:min(10, len(fh))])
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Damaged and foreign files are refused, never mapped as garbage; an empty
// index writes a file that answers nothing.
func TestFileRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	x := New(16, Options{})
	if err := x.Upsert(Point{ID: "a", Vector: make16(1)}, Point{ID: "b", Vector: make16(2)}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.idx")
	if err := x.WriteFile(good, FileSource{}, label); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     {},
		"foreign":   []byte("hello, this is not an index file at all; hello, this is not an index file at all; hello hello hello hello hello"),
		"truncated": data[:len(data)/2],
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if f, err := OpenFile(p); !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: OpenFile = %v, %v; want ErrBadFile", name, f, err)
		}
	}
	empty := filepath.Join(dir, "none.idx")
	if err := New(16, Options{}).WriteFile(empty, FileSource{Cursor: 5}, label); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if hits, err := f.Search(context.Background(), make16(1), 10, Filter{}, nil, 1); err != nil || len(hits) != 0 || f.Source().Cursor != 5 {
		t.Fatalf("empty file: %v %v cursor %d", hits, err, f.Source().Cursor)
	}
}

func make16(seed float32) []float32 {
	v := make([]float32, 16)
	for i := range v {
		v[i] = seed + float32(i)
	}
	return v
}
