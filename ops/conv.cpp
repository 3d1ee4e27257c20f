#include "ops/conv.h"

#include "autograd/node.h"
#include "ops/cpu/conv.h"
#include "ops/dispatch.h"

namespace zebra {

Tensor causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "causal_conv1d";
  check_defined(x, op, "x");
  check_defined(weight, op, "weight");
  expect_cpu(op, {&x, &weight, &bias});
  expect_f32(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  check_rank(x, 3, op, "x");
  check_rank(weight, 2, op, "weight");
  const int64_t C = x.size(2);
  ZCHECK(weight.size(0) == C, op, ": weight ", weight.summary(), " must be [C, K] with the C = ", C, " channels of x ",
         x.summary());
  ZCHECK(weight.size(1) >= 1, op, ": weight ", weight.summary(), " has kernel width K = 0");
  if (bias.defined())
    ZCHECK(bias.dim() == 1 && bias.size(0) == C, op, ": bias ", bias.summary(), " must be [", C, "] for x ",
           x.summary());
  Tensor xc = x.contiguous().detach(), wc = weight.contiguous().detach();
  Tensor y = cpu::conv1d_forward(xc, wc, bias.defined() ? bias.contiguous() : Tensor());
  return record(y, op, {x, weight, bias}, [xc, wc](const Tensor& g, const std::vector<bool>& needs) {
    cpu::Conv1dGrads d = cpu::conv1d_backward(g.contiguous(), xc, wc, needs[0], needs[1], needs[2]);
    return std::vector<Tensor>{d.dx, d.dweight, d.dbias};
  });
}

}  // namespace zebra
