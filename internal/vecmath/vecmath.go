// Package vecmath holds the float32 vector arithmetic shared by the local
// embedder's word vectors and the vector index's exact re-ranking.
package vecmath

// Dot is the inner product of a and b over len(a) (b must be at least as
// long). Four independent sums let the compiler keep them in registers and
// overlap the multiplications; it is about twice as fast as one running sum.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
