// CPU kernels behind ops/norm.h: one fused RMSNorm that covers the plain and the Mamba2 gated forms.
#pragma once
#include "core/tensor.h"

namespace zebra::cpu {

// x, z: [N, D] contiguous f32 (z undefined = no gate), weight: [D]. Statistics per group of `group`
// columns (group == D for plain RMSNorm), mean of squares in double.
// y: [N, D] with x's shape; rstd: [N, D / group] f32, kept for the backward.
struct RmsNormForward {
  Tensor y;
  Tensor rstd;
};
RmsNormForward rms_norm_forward(const Tensor& x, const Tensor& z, const Tensor& weight, double eps, int64_t group,
                                bool norm_before_gate);

// g: [N, D] contiguous f32, the rest as saved by the forward. Gradients not asked for stay undefined.
// dweight is reduced over fixed row chunks in a fixed order, so it does not depend on the thread count.
struct RmsNormGrads {
  Tensor dx, dz, dweight;
};
RmsNormGrads rms_norm_backward(const Tensor& g, const Tensor& x, const Tensor& z, const Tensor& weight,
                               const Tensor& rstd, int64_t group, bool norm_before_gate, bool need_dx, bool need_dz,
                               bool need_dweight);

}  // namespace zebra::cpu
