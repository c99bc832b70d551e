package vecindex

import "golang.org/x/sys/cpu"

//go:noescape
func dotsAVX2(q *int16, codes *int8, dim int, count int, out *int32)

var useAVX2 = cpu.X86.HasAVX2

// dots sets out[i] to the dot product of q with the i-th code vector of
// codes; dim is a multiple of 16 and len(out)*dim == len(codes).
func dots(q []int16, codes []int8, dim int, out []int32) {
	if len(out) == 0 {
		return
	}
	if useAVX2 {
		dotsAVX2(&q[0], &codes[0], dim, len(out), &out[0])
		return
	}
	dotsGeneric(q, codes, dim, out)
}
