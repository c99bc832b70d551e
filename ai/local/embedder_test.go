package local

import (
	"context"
	"math"
	"testing"
)

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestEmbedder(t *testing.T) {
	tests := []struct {
		name string
		dim  int
		want int
	}{
		{"configured", 128, 128},
		{"default", 0, DefaultEmbeddingDim},
		{"large", 1024, 1024},
	}
	texts := []string{
		"Сбер представил новую версию GigaChat для разработчиков",
		"Сбер показал новую версию модели GigaChat для разработчиков",
		"В Китае нашли ударный кратер необычной формы",
		"",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmbedder(tt.dim)
			if e.Dimension() != tt.want || e.Model() != EmbedderModel {
				t.Fatalf("dimension %d model %q", e.Dimension(), e.Model())
			}
			vecs, err := e.Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			if len(vecs) != len(texts) {
				t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
			}
			for i, v := range vecs[:3] {
				if len(v) != tt.want {
					t.Fatalf("vector %d has %d dims", i, len(v))
				}
				if n := math.Sqrt(cosine(v, v)); math.Abs(n-1) > 1e-5 {
					t.Errorf("vector %d norm %f", i, n)
				}
			}
			if n := cosine(vecs[3], vecs[3]); n != 0 {
				t.Errorf("empty text: norm %f, want the zero vector", n)
			}
			again, _ := e.Embed(context.Background(), texts[:1])
			for i := range again[0] {
				if again[0][i] != vecs[0][i] {
					t.Fatal("not deterministic")
				}
			}
			similar, unrelated := cosine(vecs[0], vecs[1]), cosine(vecs[0], vecs[2])
			if similar <= unrelated || similar < 0.5 {
				t.Errorf("similar %.3f, unrelated %.3f", similar, unrelated)
			}
			// ё and case folding.
			ve, _ := e.Embed(context.Background(), []string{"Ёлка", "елка"})
			if c := cosine(ve[0], ve[1]); math.Abs(c-1) > 1e-5 {
				t.Errorf("Ёлка vs елка cosine %f", c)
			}
		})
	}
}
