// Matrix products on OpenBLAS sgemm, forward + backward.
#pragma once
#include "core/tensor.h"

namespace zebra {

// a: [..., M, K] (or [..., K, M] with trans_a), b: [..., K, N] (or [..., N, K] with trans_b);
// batch dims broadcast; rank-2 operands are plain GEMMs. Strided (e.g. transposed) views are read
// without a copy where BLAS can express them.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x: [..., in], weight: [out, in] (PyTorch nn.Linear layout), bias: [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace zebra
