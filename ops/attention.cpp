#include "ops/attention.h"

#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "ops/cpu/attention.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/shape_ops.h"
#include "ops/softmax.h"

namespace zebra {

namespace {

// Checks the layout contract of ops/attention.h; returns the scale to use.
double check_attention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  check_defined(q, op, "q");
  check_defined(k, op, "k");
  check_defined(v, op, "v");
  expect_cpu(op, {&q, &k, &v});
  expect_f32(op, {{"q", &q}, {"k", &k}, {"v", &v}});
  check_rank(q, 4, op, "q");
  check_rank(k, 4, op, "k");
  check_rank(v, 4, op, "v");
  const std::string shapes = str("q ", q.summary(), ", k ", k.summary(), ", v ", v.summary());
  ZCHECK(q.size(0) == k.size(0) && k.size(0) == v.size(0), op, ": batch sizes differ: ", shapes);
  ZCHECK(k.size(1) == v.size(1), op, ": k and v differ in sequence length S: ", shapes);
  ZCHECK(k.size(2) == v.size(2), op, ": k and v differ in kv heads G: ", shapes);
  ZCHECK(q.size(3) == k.size(3), op, ": q and k differ in head dim Dk: ", shapes);
  ZCHECK(q.size(3) > 0, op, ": head dim Dk must be positive: ", shapes);
  ZCHECK(k.size(2) > 0 && q.size(2) % k.size(2) == 0, op, ": query heads H=", q.size(2),
         " are not a multiple of kv heads G=", k.size(2), ": ", shapes);
  ZCHECK(k.size(1) >= q.size(1), op, ": fewer keys than queries (S < T): ", shapes);
  ZCHECK(std::isfinite(scale), op, ": scale ", scale, " is not finite");
  return scale == 0.0 ? 1.0 / std::sqrt(double(q.size(3))) : scale;
}

// The kernels read rows in place (e.g. q, k, v sliced from a fused projection); only a strided
// last axis costs a copy.
Tensor unit_last(const Tensor& t) { return t.size(-1) > 1 && t.strides().back() != 1 ? t.contiguous() : t; }

}  // namespace

Tensor causal_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, double scale) {
  const float sc = float(check_attention("causal_attention", q_in, k_in, v_in, scale));
  Tensor q = unit_last(q_in).detach(), k = unit_last(k_in).detach(), v = unit_last(v_in).detach();
  cpu::AttentionForward f = cpu::attention_forward(q, k, v, sc);
  Tensor out = f.out.detach(), lse = f.lse;
  return record(f.out, "causal_attention", {q_in, k_in, v_in},
                [q, k, v, out, lse, sc](const Tensor& g, const std::vector<bool>& needs) {
                  cpu::AttentionGrads d =
                      cpu::attention_backward(q, k, v, out, lse, unit_last(g), sc, needs[0], needs[1] || needs[2]);
                  return std::vector<Tensor>{d.dq, needs[1] ? d.dk : Tensor(), needs[2] ? d.dv : Tensor()};
                });
}

Tensor causal_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const double sc = check_attention("causal_attention_reference", q, k, v, scale);
  const int64_t T = q.size(1), S = k.size(1), rep = q.size(2) / k.size(2);
  Tensor qh = permute(q, {0, 2, 1, 3});  // [B, H, T, Dk]
  Tensor kh = permute(k, {0, 2, 1, 3});  // [B, G, S, Dk]
  Tensor vh = permute(v, {0, 2, 1, 3});  // [B, G, S, Dv]
  if (rep > 1) {
    kh = repeat_interleave(kh, rep, 1);  // [B, H, S, Dk]
    vh = repeat_interleave(vh, rep, 1);
  }
  // mask: [T, S], set where key j lies after query i's position S - T + i.
  Tensor mask = Tensor::zeros({T, S}, DType::U8);
  uint8_t* mp = mask.data<uint8_t>();
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = S - T + i + 1; j < S; ++j) mp[i * S + j] = 1;
  Tensor scores = mul(matmul(qh, kh, false, true), sc);  // [B, H, T, S]
  Tensor p = softmax(masked_fill(scores, mask, -std::numeric_limits<double>::infinity()), -1);
  return contiguous(permute(matmul(p, vh), {0, 2, 1, 3}));  // [B, T, H, Dv]
}

}  // namespace zebra
