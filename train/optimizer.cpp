#include "train/optimizer.h"

#include <cmath>

namespace zebra {

AdamW::AdamW(ParamStore& params, const AdamWHyper& hyper) : params_(params), hyper_(hyper) {
  for (auto& [name, p] : params_.items()) {
    check_dtype(p, DType::F32, "AdamW", name.c_str());
    m_.push_back(Tensor::zeros(p.shape(), DType::F32, p.device()));
    v_.push_back(Tensor::zeros(p.shape(), DType::F32, p.device()));
  }
}

void AdamW::step(double lr) {
  ++step_;
  AdamWHyper h = hyper_;
  h.lr = lr;
  auto& items = params_.items();
  ZCHECK(items.size() == m_.size(), "AdamW: parameter set changed after the optimizer was built");
  for (size_t i = 0; i < items.size(); ++i) {
    Tensor& p = items[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    adamw_step(p, g, m_[i], v_[i], step_, h);
  }
}

double clip_grad_norm(ParamStore& params, double max_norm) {
  double sq = 0.0;
  for (auto& [_, p] : params.items()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    for (double x : g.to_double()) sq += x * x;
  }
  double norm = std::sqrt(sq);
  if (norm > max_norm && norm > 0) {
    double scale = max_norm / norm;
    for (auto& [_, p] : params.items()) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      Tensor c = g.contiguous();
      float* d = c.data<float>();
      for (int64_t i = 0; i < c.numel(); ++i) d[i] = float(double(d[i]) * scale);
      p.set_grad(c);
    }
  }
  return norm;
}

}  // namespace zebra
