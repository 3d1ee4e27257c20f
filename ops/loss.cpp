#include "ops/loss.h"

#include <cmath>

#include "autograd/node.h"
#include "ops/cpu/softmax.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {

// loss: [N] per-row losses -> the requested reduction; Mean divides by `count` (0 when count is 0).
Tensor reduce_rows(const Tensor& loss, Reduction reduction, int64_t count) {
  if (reduction == Reduction::None) return loss;
  const float* p = loss.data<float>();
  double s = 0.0;
  for (int64_t i = 0; i < loss.numel(); ++i) s += p[i];
  if (reduction == Reduction::Mean) s = count > 0 ? s / double(count) : 0.0;
  return Tensor::scalar(s);
}

// The factor each row's gradient is scaled by: the incoming gradient of that row's loss times
// `extra`, 0 where `counted` says the row took no part.
std::vector<float> row_scales(const Tensor& g, Reduction reduction, int64_t rows, int64_t count, double extra,
                              const std::vector<bool>& counted) {
  std::vector<float> sc(size_t(rows), 0.0f);
  std::vector<double> gv = g.to_double();
  for (int64_t i = 0; i < rows; ++i) {
    if (!counted[size_t(i)]) continue;
    double gi = reduction == Reduction::None ? gv[size_t(i)] : gv[0];
    if (reduction == Reduction::Mean) gi /= double(count);
    sc[size_t(i)] = float(gi * extra);
  }
  return sc;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index, Reduction reduction) {
  const char* op = "cross_entropy";
  check_defined(logits, op, "logits");
  check_defined(targets, op, "targets");
  expect_cpu(op, {&logits, &targets});
  expect_f32(op, {{"logits", &logits}});
  check_rank(logits, 2, op, "logits");
  ZCHECK(targets.dtype() == DType::I32 || targets.dtype() == DType::I64, op,
         ": argument 'targets' must be i32 or i64, got ", targets.summary());
  check_rank(targets, 1, op, "targets");
  int64_t N = logits.size(0), V = logits.size(1);
  ZCHECK(targets.size(0) == N, op, ": targets ", targets.summary(), " do not match logits ", logits.summary(),
         " (one target per row)");
  ZCHECK(V > 0, op, ": logits ", logits.summary(), " have no classes");

  Tensor t64 = targets.to(DType::I64).contiguous();
  const int64_t* tp = t64.data<int64_t>();
  std::vector<bool> counted(static_cast<size_t>(N));
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (tp[i] == ignore_index) continue;
    ZCHECK(tp[i] >= 0 && tp[i] < V, op, ": target ", tp[i], " at row ", i, " is outside [0, ", V,
           ") and is not ignore_index ", ignore_index, " (logits ", logits.summary(), ")");
    counted[size_t(i)] = true;
    ++count;
  }

  Tensor xc = logits.contiguous().detach();
  Tensor rows = Tensor::empty({N});
  Tensor stats = Tensor::empty({N, 2});
  cpu::cross_entropy_forward(xc.data<float>(), tp, N, V, ignore_index, rows.data<float>(), stats.data<float>());
  Tensor out = reduce_rows(rows, reduction, count);
  return record(out, op, {logits},
                [xc, t64, stats, counted, count, reduction, N, V](const Tensor& g, const std::vector<bool>&) {
                  std::vector<float> sc = row_scales(g, reduction, N, count, 1.0, counted);
                  Tensor dx = Tensor::empty({N, V});
                  cpu::cross_entropy_backward(xc.data<float>(), t64.data<int64_t>(), stats.data<float>(), sc.data(), N,
                                              V, dx.data<float>());
                  return std::vector<Tensor>{dx};
                });
}

Tensor kl_div_logits(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
                     Reduction reduction) {
  const char* op = "kl_div_logits";
  check_defined(student_logits, op, "student_logits");
  check_defined(teacher_logits, op, "teacher_logits");
  expect_cpu(op, {&student_logits, &teacher_logits});
  expect_f32(op, {{"student_logits", &student_logits}, {"teacher_logits", &teacher_logits}});
  check_rank(student_logits, 2, op, "student_logits");
  ZCHECK(teacher_logits.shape() == student_logits.shape(), op, ": teacher_logits ", teacher_logits.summary(),
         " do not match student_logits ", student_logits.summary());
  ZCHECK(std::isfinite(temperature) && temperature > 0.0, op, ": temperature ", temperature, " must be > 0");
  int64_t N = student_logits.size(0), V = student_logits.size(1);
  ZCHECK(V > 0, op, ": logits ", student_logits.summary(), " have no classes");

  float inv_tau = float(1.0 / temperature);
  Tensor sc = student_logits.contiguous().detach();
  Tensor tc = teacher_logits.contiguous().detach();
  Tensor rows = Tensor::empty({N});
  Tensor s_stats = Tensor::empty({N, 2}), t_stats = Tensor::empty({N, 2});
  cpu::kl_forward(sc.data<float>(), tc.data<float>(), N, V, inv_tau, rows.data<float>(), s_stats.data<float>(),
                  t_stats.data<float>());
  Tensor out = reduce_rows(rows, reduction, N);
  return record(out, op, {student_logits},
                [sc, tc, s_stats, t_stats, inv_tau, reduction, N, V](const Tensor& g, const std::vector<bool>&) {
                  std::vector<float> scale =
                      row_scales(g, reduction, N, N, double(inv_tau), std::vector<bool>(size_t(N), true));
                  Tensor dx = Tensor::empty({N, V});
                  cpu::kl_backward(sc.data<float>(), tc.data<float>(), s_stats.data<float>(), t_stats.data<float>(),
                                   scale.data(), N, V, inv_tau, dx.data<float>());
                  return std::vector<Tensor>{dx};
                });
}

}  // namespace zebra
