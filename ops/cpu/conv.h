// CPU kernels behind ops/conv.cpp: depthwise causal conv1d over [B, T, C], vectorised along the
// contiguous channel axis.
#pragma once
#include "core/tensor.h"

namespace zebra::cpu {

// x: [B, T, C], weight: [C, K], bias: [C] or undefined, all contiguous f32 -> y: [B, T, C].
Tensor conv1d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias);

// g: [B, T, C] contiguous. Gradients not asked for stay undefined. dweight / dbias are summed over
// (B, T) in double, in a fixed order per channel block, so they do not depend on thread count.
struct Conv1dGrads {
  Tensor dx, dweight, dbias;
};
Conv1dGrads conv1d_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool need_dx, bool need_dweight,
                            bool need_dbias);

}  // namespace zebra::cpu
