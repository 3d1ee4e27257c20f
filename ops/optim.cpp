#include "ops/optim.h"

#include <cmath>

#include "core/threadpool.h"
#include "ops/dispatch.h"

namespace zebra {

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, int64_t step, const AdamWHyper& h) {
  const char* op = "adamw_step";
  expect_cpu(op, {&param, &grad, &m, &v});
  expect_f32(op, {{"param", &param}, {"grad", &grad}, {"m", &m}, {"v", &v}});
  ZCHECK(grad.shape() == param.shape() && m.shape() == param.shape() && v.shape() == param.shape(), op,
         ": shapes differ: param ", param.summary(), ", grad ", grad.summary(), ", m ", m.summary(), ", v ", v.summary());
  ZCHECK(param.is_contiguous() && m.is_contiguous() && v.is_contiguous(), op, ": param and state must be contiguous");
  ZCHECK(step >= 1, op, ": step must count from 1, got ", step);
  Tensor g = grad.contiguous();
  float* p = param.data<float>();
  float* pm = m.data<float>();
  float* pv = v.data<float>();
  const float* pg = g.data<float>();
  const float decay = float(1.0 - h.lr * h.weight_decay);
  const float b1 = float(h.beta1), b2 = float(h.beta2);
  const float step_size = float(h.lr / (1.0 - std::pow(h.beta1, double(step))));
  const float inv_bc2_sqrt = float(1.0 / std::sqrt(1.0 - std::pow(h.beta2, double(step))));
  const float eps = float(h.eps);
  parallel_for(0, param.numel(), 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float gi = pg[i];
      float mi = b1 * pm[i] + (1.0f - b1) * gi;
      float vi = b2 * pv[i] + (1.0f - b2) * gi * gi;
      pm[i] = mi;
      pv[i] = vi;
      p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_bc2_sqrt + eps);
    }
  });
}

}  // namespace zebra
