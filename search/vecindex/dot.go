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
