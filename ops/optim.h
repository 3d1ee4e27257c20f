// Fused optimizer steps (in place, untracked).
#pragma once
#include "core/tensor.h"

namespace zebra {

struct AdamWHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// torch.optim.AdamW, one parameter: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). `step` counts from 1. param, m, v: f32,
// contiguous, same shape as grad.
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, int64_t step, const AdamWHyper& h);

}  // namespace zebra
