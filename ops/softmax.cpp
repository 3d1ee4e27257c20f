#include "ops/softmax.h"

#include "autograd/node.h"
#include "ops/cpu/softmax.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {

// Reads x as [outer, n, inner] around `axis`, so the kernels need no permuted copy.
Tensor softmax_impl(const Tensor& x, int64_t axis, bool log, const char* op) {
  check_defined(x, op, "x");
  expect_cpu(op, {&x});
  expect_f32(op, {{"x", &x}});
  int64_t r = x.dim();
  ZCHECK(axis >= -r && axis < r, op, ": axis ", axis, " out of range for ", x.summary());
  int64_t a = axis < 0 ? axis + r : axis;
  int64_t outer = 1, inner = 1, n = x.shape()[size_t(a)];
  for (int64_t d = 0; d < a; ++d) outer *= x.shape()[size_t(d)];
  for (int64_t d = a + 1; d < r; ++d) inner *= x.shape()[size_t(d)];

  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  cpu::softmax_forward(xc.data<float>(), out.data<float>(), outer, n, inner, log);
  Tensor saved = out.detach();
  return record(out, op, {x}, [saved, outer, n, inner, log](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(saved.shape());
    cpu::softmax_backward(saved.data<float>(), gc.data<float>(), dx.data<float>(), outer, n, inner, log);
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true, "log_softmax"); }

}  // namespace zebra
