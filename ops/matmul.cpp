#include "ops/matmul.h"

#include "autograd/node.h"
#include "ops/cpu/matmul.h"
#include "ops/dispatch.h"
#include "ops/reduce.h"

namespace zebra {

namespace {

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

const char* transposed(bool t) { return t ? " (transposed)" : ""; }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_defined(a, "matmul", "a");
  check_defined(b, "matmul", "b");
  expect_cpu("matmul", {&a, &b});
  expect_f32("matmul", {{"a", &a}, {"b", &b}});
  ZCHECK(a.dim() >= 2, "matmul: argument 'a' must have rank >= 2, got ", a.summary());
  ZCHECK(b.dim() >= 2, "matmul: argument 'b' must have rank >= 2, got ", b.summary());
  const int64_t M = a.size(trans_a ? -1 : -2), K = a.size(trans_a ? -2 : -1);
  const int64_t Kb = b.size(trans_b ? -1 : -2), N = b.size(trans_b ? -2 : -1);
  ZCHECK(K == Kb, "matmul: inner dimensions differ: a ", a.summary(), transposed(trans_a), ", b ", b.summary(),
         transposed(trans_b));
  const Shape ba = batch_of(a), bb = batch_of(b);
  Shape batch;
  try {
    batch = broadcast_shapes(ba, bb, "matmul");
  } catch (const Error&) {
    fail("matmul: batch dimensions ", shape_str(ba), " and ", shape_str(bb), " do not broadcast: a ", a.summary(),
         ", b ", b.summary());
  }
  Shape shape = batch;
  shape.push_back(M);
  shape.push_back(N);
  Tensor out = Tensor::empty(shape);
  cpu::gemm(a, trans_a, b, trans_b, out);

  // Each operand is saved only when the other one's gradient needs it.
  const Tensor sa = b.requires_grad() ? a.detach() : Tensor();
  const Tensor sb = a.requires_grad() ? b.detach() : Tensor();
  return record(out, "matmul", {a, b},
                [sa, sb, a_shape = a.shape(), b_shape = b.shape(), trans_a, trans_b](const Tensor& g,
                                                                                   const std::vector<bool>& needs) {
                  // C = op(a) op(b): d op(a) = g op(b)^T and d op(b) = op(a)^T g; a transposed operand
                  // takes the transposed product. gemm sums over the batch dims an operand was broadcast along.
                  Tensor ga, gb;
                  if (needs[0]) {
                    ga = Tensor::empty(a_shape);
                    if (trans_a) cpu::gemm(sb, trans_b, g, true, ga);
                    else cpu::gemm(g, false, sb, !trans_b, ga);
                  }
                  if (needs[1]) {
                    gb = Tensor::empty(b_shape);
                    if (trans_b) cpu::gemm(g, true, sa, trans_a, gb);
                    else cpu::gemm(sa, !trans_a, g, false, gb);
                  }
                  return std::vector<Tensor>{ga, gb};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(x, "linear", "x");
  check_defined(weight, "linear", "weight");
  expect_cpu("linear", {&x, &weight, &bias});
  expect_f32("linear", {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  ZCHECK(x.dim() >= 1, "linear: argument 'x' must have rank >= 1, got ", x.summary());
  check_rank(weight, 2, "linear", "weight");
  const int64_t O = weight.size(0), I = weight.size(1);
  ZCHECK(x.size(-1) == I, "linear: x ", x.summary(), " has ", x.size(-1), " input features but weight ",
         weight.summary(), " expects ", I);
  if (bias.defined())
    ZCHECK(bias.dim() == 1 && bias.size(0) == O, "linear: bias ", bias.summary(), " must be [", O,
           "] to match weight ", weight.summary());
  Tensor out = cpu::linear_forward(x, weight, bias);

  const Tensor sx = weight.requires_grad() ? x.detach() : Tensor();
  const Tensor sw = x.requires_grad() ? weight.detach() : Tensor();
  return record(out, "linear", {x, weight, bias},
                [sx, sw, x_shape = x.shape(), O, I](const Tensor& g, const std::vector<bool>& needs) {
                  // y = x w^T + b: dx = g w, dw = g^T x summed over the leading dims, db = g summed likewise.
                  const Tensor gm = cpu::as_row_matrix(g);
                  Tensor gx, gw, gb;
                  if (needs[0]) {
                    gx = Tensor::empty(x_shape);
                    cpu::gemm(gm, false, sw, false, cpu::as_row_matrix(gx));
                  }
                  if (needs[1]) {
                    gw = Tensor::empty({O, I});
                    cpu::gemm(gm, true, cpu::as_row_matrix(sx), false, gw);
                  }
                  if (needs[2]) gb = sum_to(g, {O});
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace zebra
