// RMSNorm and the Mamba2 gated RMSNorm, fused forward + explicit backward kernels.
#pragma once
#include "core/tensor.h"

namespace zebra {

// x: [..., D], weight: [D] -> x / sqrt(mean(x^2) + eps) * weight (statistics in double on CPU).
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);
// Mamba2's RMSNormGated. x, z: [..., D], weight: [D], D % group_size == 0; statistics per group.
// norm_before_gate=false (Mamba2 default): rmsnorm(x * silu(z)) * weight
// norm_before_gate=true:                   rmsnorm(x) * weight * silu(z)
Tensor gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, double eps, int64_t group_size,
                      bool norm_before_gate = false);

}  // namespace zebra
