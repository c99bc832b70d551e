package ai

import (
	"hash/fnv"
	"math"
)

// HashVector is a deterministic unit vector of dim dimensions derived from
// text alone: no meaning, only identity. Benchmarks and provider emulations
// use it where an embedder's cost or order matters and its semantics do not.
func HashVector(text string, dim int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	seed := h.Sum64()
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407 // Knuth's MMIX LCG
		x := float64(int64(seed>>11))/float64(1<<52) - 1
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}
