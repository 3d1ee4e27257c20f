// Scan primitives of the Mamba2 SSD algorithm, forward + backward.
#pragma once
#include "core/tensor.h"

namespace zebra {

Tensor cumsum(const Tensor& x, int64_t axis);
// x: [..., T] -> [..., T, T] with out[i, j] = x[j+1] + ... + x[i] for j <= i and -inf above the
// diagonal (mamba_ssm's ssd_minimal segsum, computed stably without subtracting cumsums).
Tensor segsum(const Tensor& x);

}  // namespace zebra
