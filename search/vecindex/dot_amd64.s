#include "textflag.h"

// func dotsAVX2(q *int16, codes *int8, dim int, count int, out *int32)
//
// For each of count vectors of dim int8 codes (dim a multiple of 16), stored
// one after another, out[i] = sum_j q[j] * codes[i*dim+j]. The query is
// pre-widened to int16 so each step sign-extends 16 codes (VPMOVSXBW) and
// multiplies-and-adds pairs into 8 int32 lanes (VPMADDWD).
TEXT ·dotsAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), R8
	MOVQ codes+8(FP), SI
	MOVQ dim+16(FP), R9
	MOVQ count+24(FP), R10
	MOVQ out+32(FP), R11
	TESTQ R10, R10
	JE   end

vec:
	VPXOR Y0, Y0, Y0
	VPXOR Y4, Y4, Y4
	MOVQ  R8, DI
	MOVQ  R9, CX

pair:
	CMPQ      CX, $32
	JL        single
	VPMOVSXBW (SI), Y1
	VPMADDWD  (DI), Y1, Y1
	VPADDD    Y1, Y0, Y0
	VPMOVSXBW 16(SI), Y2
	VPMADDWD  32(DI), Y2, Y2
	VPADDD    Y2, Y4, Y4
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JMP       pair

single:
	CMPQ      CX, $16
	JL        reduce
	VPMOVSXBW (SI), Y1
	VPMADDWD  (DI), Y1, Y1
	VPADDD    Y1, Y0, Y0
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $16, CX

reduce:
	VPADDD       Y4, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, (R11)
	ADDQ         $4, R11
	DECQ         R10
	JNE          vec

end:
	VZEROUPPER
	RET
