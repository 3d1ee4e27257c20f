// CPU kernels behind ops/matmul.h: batched, broadcasting GEMM on OpenBLAS sgemm that reads strided
// operands in place, and the fused linear forward.
#pragma once
#include "core/tensor.h"

namespace zebra::cpu {

// Whether the last two dims of t can go to sgemm as they lie: row-major (stride[-1] == 1) or
// column-major (stride[-2] == 1) with a valid leading dimension. Operands that cannot are copied to
// contiguous memory first; transposed views and row slices can.
bool gemm_reads_in_place(const Tensor& t);

// out: [Lo..., M, N] (+)= op(a): [La..., M, K] · op(b): [Lb..., K, N], where op transposes the last
// two dims when its flag is set. La, Lb and Lo broadcast (NumPy rules) to one loop shape; where Lo
// is smaller than it (a broadcast operand's gradient), the products are summed into out. With
// `accumulate` the result is added to out's contents, otherwise it replaces them. All f32 on the
// host; out must be row-major in its last two dims (a freshly allocated tensor is). Batch dims that
// lie evenly in memory are folded into M, N or K so they cost one sgemm call, not one per batch.
void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& out, bool accumulate = false);

// x: [..., in], weight: [out, in], bias: [out] or undefined -> [..., out]. The bias is written
// first and sgemm accumulates onto it, so there is no second pass.
Tensor linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias);

// A rank-1 tensor [n] as the matrix [1, n] (a view); higher ranks unchanged.
Tensor as_row_matrix(const Tensor& t);

}  // namespace zebra::cpu
