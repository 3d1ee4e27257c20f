// Depthwise causal 1-D convolution (Mamba2's conv1d), forward + backward.
#pragma once
#include "core/tensor.h"

namespace zebra {

// x: [B, T, C], weight: [C, K], bias: [C] or undefined ->
// y[b, t, c] = bias[c] + sum_k weight[c, k] * x[b, t - (K-1) + k, c] (zero before t = 0),
// i.e. PyTorch's Conv1d(C, C, K, groups=C, padding=K-1) truncated to the first T outputs.
Tensor causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace zebra
