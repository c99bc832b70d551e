package vecindex

// dotsGeneric is the portable kernel, and the reference the assembly one is
// tested against.
func dotsGeneric(q []int16, codes []int8, dim int, out []int32) {
	q = q[:dim]
	for i := range out {
		c := codes[i*dim : (i+1)*dim]
		var s0, s1, s2, s3 int32
		for j := 0; j+4 <= dim; j += 4 {
			s0 += int32(q[j]) * int32(c[j])
			s1 += int32(q[j+1]) * int32(c[j+1])
			s2 += int32(q[j+2]) * int32(c[j+2])
			s3 += int32(q[j+3]) * int32(c[j+3])
		}
		out[i] = s0 + s1 + s2 + s3
	}
}

// dotF32 is the exact inner product used for re-ranking.
func dotF32(a, b []float32) float32 {
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
