#include "ops/ssd.h"

#include "autograd/node.h"
#include "ops/cpu/ssd.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {
void check_scan_input(const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  expect_cpu(op, {&x});
  expect_f32(op, {{"x", &x}});
  ZCHECK(x.dim() >= 1, op, ": argument 'x' must have rank >= 1, got ", x.summary());
}
}  // namespace

Tensor cumsum(const Tensor& x, int64_t axis) {
  check_scan_input(x, "cumsum");
  const int64_t ax = norm_axis(axis, x.dim(), "cumsum");
  // x viewed as [outer, n, inner] with the scanned axis in the middle.
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < ax; ++i) outer *= x.size(i);
  for (int64_t i = ax + 1; i < x.dim(); ++i) inner *= x.size(i);
  const int64_t n = x.size(ax);
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  cpu::cumsum(xc.data<float>(), out.data<float>(), outer, n, inner, false);
  return record(out, "cumsum", {x}, [outer, n, inner](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(g.shape());
    cpu::cumsum(gc.data<float>(), dx.data<float>(), outer, n, inner, true);
    return std::vector<Tensor>{dx};
  });
}

Tensor segsum(const Tensor& x) {
  check_scan_input(x, "segsum");
  const int64_t T = x.size(-1);
  Shape out_shape = x.shape();
  out_shape.push_back(T);
  const int64_t rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(out_shape);
  cpu::segsum_forward(xc.data<float>(), out.data<float>(), rows, T);
  return record(out, "segsum", {x}, [rows, T, shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(shape);
    cpu::segsum_backward(gc.data<float>(), dx.data<float>(), rows, T);
    return std::vector<Tensor>{dx};
  });
}

}  // namespace zebra
