#include "ops/norm.h"

#include <cmath>

#include "autograd/node.h"
#include "ops/cpu/norm.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {

void check_norm_args(const char* op, const Tensor& x, const Tensor& weight, double eps) {
  ZCHECK(x.dim() >= 1, op, ": argument 'x' must have at least one axis, got ", x.summary());
  check_rank(weight, 1, op, "weight");
  ZCHECK(x.size(-1) > 0, op, ": argument 'x' has an empty last axis: ", x.summary());
  ZCHECK(weight.size(0) == x.size(-1), op, ": weight ", weight.summary(), " does not match the last axis of x ",
         x.summary());
  ZCHECK(std::isfinite(eps) && eps >= 0.0, op, ": eps must be finite and >= 0, got ", eps);
}

}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  check_defined(x, "rms_norm", "x");
  check_defined(weight, "rms_norm", "weight");
  expect_cpu("rms_norm", {&x, &weight});
  expect_f32("rms_norm", {{"x", &x}, {"weight", &weight}});
  check_norm_args("rms_norm", x, weight, eps);
  Tensor xc = x.contiguous().detach(), wc = weight.contiguous().detach();
  const int64_t D = x.size(-1);
  cpu::RmsNormForward f = cpu::rms_norm_forward(xc, Tensor(), wc, eps, D, false);
  Tensor rstd = f.rstd;
  return record(f.y, "rms_norm", {x, weight}, [xc, wc, rstd, D](const Tensor& g, const std::vector<bool>& needs) {
    cpu::RmsNormGrads r =
        cpu::rms_norm_backward(g.contiguous(), xc, Tensor(), wc, rstd, D, false, needs[0], false, needs[1]);
    return std::vector<Tensor>{r.dx, r.dweight};
  });
}

Tensor gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, double eps, int64_t group_size,
                      bool norm_before_gate) {
  const char* op = "gated_rms_norm";
  check_defined(x, op, "x");
  check_defined(z, op, "z");
  check_defined(weight, op, "weight");
  expect_cpu(op, {&x, &z, &weight});
  expect_f32(op, {{"x", &x}, {"z", &z}, {"weight", &weight}});
  check_norm_args(op, x, weight, eps);
  ZCHECK(z.shape() == x.shape(), op, ": z ", z.summary(), " must have the shape of x ", x.summary());
  ZCHECK(group_size > 0 && x.size(-1) % group_size == 0, op, ": group_size ", group_size,
         " must be positive and divide the last axis of x ", x.summary());
  Tensor xc = x.contiguous().detach(), zc = z.contiguous().detach(), wc = weight.contiguous().detach();
  cpu::RmsNormForward f = cpu::rms_norm_forward(xc, zc, wc, eps, group_size, norm_before_gate);
  Tensor rstd = f.rstd;
  return record(f.y, op, {x, z, weight},
                [xc, zc, wc, rstd, group_size, norm_before_gate](const Tensor& g, const std::vector<bool>& needs) {
                  cpu::RmsNormGrads r = cpu::rms_norm_backward(g.contiguous(), xc, zc, wc, rstd, group_size,
                                                               norm_before_gate, needs[0], needs[1], needs[2]);
                  return std::vector<Tensor>{r.dx, r.dz, r.dweight};
                });
}

}  // namespace zebra
