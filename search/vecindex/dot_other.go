//go:build !amd64

package vecindex

func dots(q []int16, codes []int8, dim int, out []int32) { dotsGeneric(q, codes, dim, out) }
