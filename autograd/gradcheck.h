// Gradient checker used by every op test: analytic gradients from backward() against central
// differences of a random projection L = sum(f(x) * w), accumulated in double.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace zebra {

struct GradcheckOptions {
  double eps = 1e-2;   // f32 forward: a larger step keeps rounding noise below the tolerance
  double atol = 2e-3;
  double rtol = 2e-2;
  int64_t max_checks_per_input = 48;  // larger inputs are spot-checked at seeded random elements
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // names the worst input element when !ok
  double max_abs_error = 0.0;
  int64_t checked = 0;  // elements compared
};

// f maps the inputs to one output. Inputs that require grad are checked; f is re-run on clones
// with one element nudged by +-eps, under NoGrad.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

}  // namespace zebra
