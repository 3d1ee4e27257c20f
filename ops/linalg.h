// Dense linear algebra without gradients (initialisation only).
#pragma once
#include "core/tensor.h"

namespace zebra {

struct Svd {
  Tensor U;   // [M, k]
  Tensor S;   // [k], descending
  Tensor Vt;  // [k, N]
};

// Thin SVD of a: [M, N] f32 through LAPACKE gesdd in double precision; k = min(M, N).
// Not differentiable: refuses inputs that require grad while grad mode is on.
Svd svd(const Tensor& a);

}  // namespace zebra
