// AdamW over a model's parameters, and global-norm gradient clipping.
#pragma once
#include <vector>

#include "models/params.h"
#include "ops/optim.h"

namespace zebra {

class AdamW {
 public:
  AdamW(ParamStore& params, const AdamWHyper& hyper);
  // One update of every parameter that has a gradient; lr overrides the hyper's (schedules).
  void step(double lr);
  void step() { step(hyper_.lr); }
  int64_t steps_taken() const { return step_; }
  const AdamWHyper& hyper() const { return hyper_; }

 private:
  ParamStore& params_;
  AdamWHyper hyper_;
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;
};

// Scales every gradient so their joint L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(ParamStore& params, double max_norm);

}  // namespace zebra
