package vecmath

import (
	"math"
	"testing"
)

func TestDot(t *testing.T) {
	tests := []struct {
		name string
		a, b []float32
		want float32
	}{
		{"empty", nil, nil, 0},
		{"one", []float32{2}, []float32{3}, 6},
		{"four", []float32{1, 2, 3, 4}, []float32{1, 1, 1, 1}, 10},
		{"tail after the unrolled part", []float32{1, 2, 3, 4, 5, 6, 7}, []float32{1, 0, 1, 0, 1, 0, 1}, 16},
		{"b longer than a", []float32{1, -1}, []float32{5, 2, 100}, 3},
		{"orthogonal", []float32{1, 0, 0, 0}, []float32{0, 1, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Dot(tt.a, tt.b); math.Abs(float64(got-tt.want)) > 1e-6 {
				t.Fatalf("Dot = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDotPanicsWhenBIsShorter(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Dot of a longer a than b did not panic")
		}
	}()
	Dot([]float32{1, 2, 3}, []float32{1})
}
