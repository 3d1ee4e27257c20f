// cross_entropy and kl_div_logits: forward and gradient against double references (odd V, ±1000
// logits, ignored rows, every reduction, non-contiguous inputs), gradchecks, errors.
#include <cmath>
#include <limits>

#include "ops/loss.h"
#include "ops/shape_ops.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {

const Reduction kReductions[] = {Reduction::Mean, Reduction::Sum, Reduction::None};

struct Ref {
  std::vector<double> out;   // [N] for None, else one value
  std::vector<double> grad;  // d(sum(out * g))/dx, [N, V]
};

// Row log-softmax of x * scale in double.
std::vector<double> ref_log_softmax(const std::vector<double>& x, int64_t N, int64_t V, double scale) {
  std::vector<double> out(x.size());
  for (int64_t i = 0; i < N; ++i) {
    double m = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < V; ++j) m = std::max(m, x[size_t(i * V + j)] * scale);
    for (int64_t j = 0; j < V; ++j) s += std::exp(x[size_t(i * V + j)] * scale - m);
    for (int64_t j = 0; j < V; ++j) out[size_t(i * V + j)] = x[size_t(i * V + j)] * scale - m - std::log(s);
  }
  return out;
}

// Applies the reduction to per-row values `rows` (counted rows only for Mean) and scales the
// per-row gradients `drow` ([N, V], for a unit upstream gradient on each row) accordingly.
Ref reduce(const std::vector<double>& rows, std::vector<double> drow, const std::vector<bool>& counted,
           Reduction red, int64_t V, const std::vector<double>& g) {
  int64_t N = int64_t(rows.size()), count = 0;
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    total += rows[size_t(i)];
    count += counted[size_t(i)];
  }
  Ref r;
  if (red == Reduction::None) r.out = rows;
  else if (red == Reduction::Sum) r.out = {total};
  else r.out = {count ? total / double(count) : 0.0};
  for (int64_t i = 0; i < N; ++i) {
    double sc = red == Reduction::None ? g[size_t(i)] : g[0];
    if (red == Reduction::Mean) sc = count ? sc / double(count) : 0.0;
    for (int64_t j = 0; j < V; ++j) drow[size_t(i * V + j)] *= sc;
  }
  r.grad = drow;
  return r;
}

Ref ref_ce(const Tensor& logits, const std::vector<int64_t>& t, int64_t ignore, Reduction red,
           const std::vector<double>& g) {
  int64_t N = logits.size(0), V = logits.size(1);
  std::vector<double> lp = ref_log_softmax(logits.to_double(), N, V, 1.0), rows(size_t(N), 0.0);
  std::vector<double> d(size_t(N * V), 0.0);
  std::vector<bool> counted(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    if (t[size_t(i)] == ignore) continue;
    counted[size_t(i)] = true;
    rows[size_t(i)] = -lp[size_t(i * V + t[size_t(i)])];
    for (int64_t j = 0; j < V; ++j) d[size_t(i * V + j)] = std::exp(lp[size_t(i * V + j)]) - (j == t[size_t(i)]);
  }
  return reduce(rows, d, counted, red, V, g);
}

Ref ref_kl(const Tensor& s, const Tensor& t, double tau, Reduction red, const std::vector<double>& g) {
  int64_t N = s.size(0), V = s.size(1);
  std::vector<double> ls = ref_log_softmax(s.to_double(), N, V, 1.0 / tau);
  std::vector<double> lt = ref_log_softmax(t.to_double(), N, V, 1.0 / tau);
  std::vector<double> rows(size_t(N), 0.0), d(size_t(N * V));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < V; ++j) {
      size_t k = size_t(i * V + j);
      double pt = std::exp(lt[k]);
      if (pt > 0) rows[size_t(i)] += pt * (lt[k] - ls[k]);
      d[k] = (std::exp(ls[k]) - pt) / tau;
    }
  return reduce(rows, d, std::vector<bool>(size_t(N), true), red, V, g);
}

// Upstream gradient: random per row for None, a non-unit scalar otherwise.
Tensor upstream(Reduction red, int64_t N, uint64_t seed) {
  return red == Reduction::None ? rand({N}, seed, 0.5, 2.0) : Tensor::scalar(1.7);
}

Tensor targets_of(const std::vector<int64_t>& t, DType dt) {
  return Tensor::from_vector(t, {int64_t(t.size())}).to(dt);
}

// Seeded targets in [0, V), with every third row set to `ignore`.
std::vector<int64_t> make_targets(int64_t N, int64_t V, int64_t ignore, uint64_t seed) {
  std::vector<double> u = Tensor::uniform({N}, seed, 0, double(V)).to_double();
  std::vector<int64_t> t;
  for (int64_t i = 0; i < N; ++i) t.push_back(i % 3 == 1 ? ignore : std::min<int64_t>(int64_t(u[size_t(i)]), V - 1));
  return t;
}

}  // namespace

TEST(CrossEntropy, ForwardAndBackwardAgainstReference) {
  for (int64_t V : {1, 7, 1001})
    for (Reduction red : kReductions)
      for (DType tdt : {DType::I32, DType::I64})
        for (bool nc : {false, true}) {
          int64_t N = 13, ignore = V == 1 ? -100 : 3;  // ignore_index may also be a valid class id
          Tensor x0 = rand({N, V}, uint64_t(V) + 1, -6, 6);
          Tensor x = param(nc ? noncontig(x0) : x0);
          std::vector<int64_t> t = make_targets(N, V, ignore, 2);
          Tensor g = upstream(red, N, 3);
          Tensor loss = cross_entropy(x, targets_of(t, tdt), ignore, red);
          Ref r = ref_ce(x, t, ignore, red, g.to_double());
          EXPECT_EQ(loss.shape(), red == Reduction::None ? Shape{N} : Shape{});
          EXPECT_TRUE(all_close(loss, r.out, 1e-5, 1e-5)) << "V " << V << " red " << int(red);
          loss.backward(g);
          EXPECT_TRUE(all_close(x.grad(), r.grad, 1e-6, 1e-4)) << "V " << V << " red " << int(red);
        }
}

TEST(CrossEntropy, StableForLargeLogits) {
  int64_t N = 5, V = 67;
  Tensor x = param(rand({N, V}, 4, -1000, 1000));
  std::vector<int64_t> t = {0, 66, 13, -100, 5};
  Tensor loss = cross_entropy(x, targets_of(t, DType::I64), -100, Reduction::None);
  Ref r = ref_ce(x, t, -100, Reduction::None, std::vector<double>(size_t(N), 1.0));
  for (double v : loss.to_double()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(all_close(loss, r.out, 1e-3, 1e-5));
  loss.backward(Tensor::ones({N}));
  EXPECT_TRUE(all_close(x.grad(), r.grad, 1e-5, 1e-4));
}

TEST(CrossEntropy, AllRowsIgnoredOrNoRows) {
  Tensor x = param(rand({3, 7}, 5));
  Tensor t = targets_of({-1, -1, -1}, DType::I64);
  Tensor mean = cross_entropy(x, t, -1, Reduction::Mean);
  EXPECT_EQ(mean.item(), 0.0);
  mean.backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<double>(21, 0.0), 0, 0));
  EXPECT_TRUE(all_close(cross_entropy(x, t, -1, Reduction::None), std::vector<double>(3, 0.0), 0, 0));
  Tensor empty = Tensor::zeros({0, 7});
  EXPECT_EQ(cross_entropy(empty, Tensor::zeros({0}, DType::I64)).item(), 0.0);
  EXPECT_EQ(cross_entropy(empty, Tensor::zeros({0}, DType::I32), -100, Reduction::None).numel(), 0);
}

TEST(CrossEntropy, Gradcheck) {
  int64_t N = 5, V = 7;
  Tensor x = param(rand({N, V}, 6, -2, 2));
  Tensor t = targets_of({0, 6, -100, 3, 3}, DType::I32);
  for (Reduction red : kReductions) {
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, -100, red); }, {x});
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(transpose(in[0], 0, 1), t, -100, red); },
                     {param(rand({V, N}, 7, -2, 2))});
  }
}

TEST(CrossEntropy, Errors) {
  Tensor x = Tensor::zeros({3, 5});
  Tensor t = targets_of({0, 1, 2}, DType::I64);
  EXPECT_ERROR(cross_entropy(x, targets_of({0, 5, 2}, DType::I64)), "target 5 at row 1 is outside [0, 5)");
  EXPECT_ERROR(cross_entropy(x, targets_of({0, 1, -1}, DType::I32)), "target -1 at row 2");
  EXPECT_ERROR(cross_entropy(x, targets_of({0, 1, -100}, DType::I32), -1), "target -100 at row 2");
  EXPECT_ERROR(cross_entropy(x, Tensor::zeros({3})), "argument 'targets' must be i32 or i64, got f32[3] cpu");
  EXPECT_ERROR(cross_entropy(x, targets_of({0, 1}, DType::I64)), "targets i64[2] cpu do not match logits f32[3, 5] cpu");
  EXPECT_ERROR(cross_entropy(x, Tensor::zeros({3, 1}, DType::I64)), "argument 'targets' must have rank 1");
  EXPECT_ERROR(cross_entropy(Tensor::zeros({3, 5, 1}), t), "argument 'logits' must have rank 2");
  EXPECT_ERROR(cross_entropy(Tensor::zeros({3, 5}, DType::F64), t), "argument 'logits' must be f32");
  EXPECT_ERROR(cross_entropy(Tensor::zeros({3, 0}), targets_of({-100, -100, -100}, DType::I64)), "no classes");
  EXPECT_ERROR(cross_entropy(x, Tensor()), "argument 'targets' is an undefined tensor");
}

TEST(KlDiv, ForwardAndBackwardAgainstReference) {
  for (int64_t V : {1, 7, 1001})
    for (double tau : {1.0, 2.5, 0.7})
      for (Reduction red : kReductions)
        for (bool nc : {false, true}) {
          int64_t N = 13;
          Tensor s0 = rand({N, V}, uint64_t(V) + 10, -5, 5), t0 = rand({N, V}, uint64_t(V) + 11, -5, 5);
          Tensor s = param(nc ? noncontig(s0) : s0), t = nc ? noncontig(t0) : t0;
          Tensor g = upstream(red, N, 12);
          Tensor kl = kl_div_logits(s, t, tau, red);
          Ref r = ref_kl(s, t, tau, red, g.to_double());
          EXPECT_EQ(kl.shape(), red == Reduction::None ? Shape{N} : Shape{});
          EXPECT_TRUE(all_close(kl, r.out, 1e-6, 1e-4)) << "V " << V << " tau " << tau << " red " << int(red);
          kl.backward(g);
          EXPECT_TRUE(all_close(s.grad(), r.grad, 1e-7, 1e-4)) << "V " << V << " tau " << tau << " red " << int(red);
        }
}

TEST(KlDiv, ZeroWhenDistributionsMatch) {
  Tensor s = param(rand({4, 9}, 13, -3, 3));
  Tensor kl = kl_div_logits(s, s.detach(), 1.3, Reduction::None);
  EXPECT_TRUE(all_close(kl, std::vector<double>(4, 0.0), 1e-6, 0));
  kl.backward(Tensor::ones({4}));
  EXPECT_TRUE(all_close(s.grad(), std::vector<double>(36, 0.0), 1e-7, 0));
}

TEST(KlDiv, StableForLargeLogitsAndZeroTeacherProbabilities) {
  Tensor s = param(rand({5, 67}, 14, -1000, 1000));
  Tensor t = rand({5, 67}, 15, -1000, 1000);
  Tensor kl = kl_div_logits(s, t, 2.0, Reduction::None);
  Ref r = ref_kl(s, t, 2.0, Reduction::None, std::vector<double>(5, 1.0));
  for (double v : kl.to_double()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(all_close(kl, r.out, 1e-3, 1e-5));
  kl.backward(Tensor::ones({5}));
  EXPECT_TRUE(all_close(s.grad(), r.grad, 1e-6, 1e-4));

  // The teacher puts no mass where the student's logit is -inf: that class contributes 0, not NaN.
  float inf = std::numeric_limits<float>::infinity();
  Tensor s2 = Tensor::from_vector(std::vector<float>{-inf, 1, 2, 0.5f}, {1, 4});
  Tensor t2 = Tensor::from_vector(std::vector<float>{-inf, 0, 3, 1}, {1, 4});
  Tensor one = kl_div_logits(s2, t2, 1.0);
  Tensor want = kl_div_logits(slice(s2, 1, 1, 4), slice(t2, 1, 1, 4), 1.0);
  EXPECT_TRUE(std::isfinite(one.item()));
  EXPECT_NEAR(one.item(), want.item(), 1e-6);
  EXPECT_GT(one.item(), 0.0);
}

TEST(KlDiv, GradientFlowsToTheStudentOnly) {
  Tensor s = param(rand({3, 5}, 16, -2, 2)), t = param(rand({3, 5}, 17, -2, 2));
  kl_div_logits(s, t, 1.5, Reduction::Mean).backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
  EXPECT_FALSE(kl_div_logits(s.detach(), t, 1.0).requires_grad());
}

TEST(KlDiv, Gradcheck) {
  Tensor t = rand({4, 6}, 18, -2, 2);
  for (Reduction red : kReductions)
    for (double tau : {1.0, 2.0}) {
      Tensor s = param(rand({4, 6}, 19, -2, 2));
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return kl_div_logits(in[0], t, tau, red); }, {s});
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& in) { return kl_div_logits(transpose(in[0], 0, 1), t, tau, red); },
          {param(rand({6, 4}, 20, -2, 2))});
    }
}

TEST(KlDiv, Errors) {
  Tensor a = Tensor::zeros({3, 5});
  EXPECT_ERROR(kl_div_logits(a, Tensor::zeros({3, 4})), "teacher_logits f32[3, 4] cpu do not match student_logits f32[3, 5] cpu");
  EXPECT_ERROR(kl_div_logits(a, a, 0.0), "temperature 0 must be > 0");
  EXPECT_ERROR(kl_div_logits(a, a, -1.0), "temperature -1 must be > 0");
  EXPECT_ERROR(kl_div_logits(a, a, std::nan("")), "must be > 0");
  EXPECT_ERROR(kl_div_logits(a, a, std::numeric_limits<double>::infinity()), "must be > 0");
  EXPECT_ERROR(kl_div_logits(Tensor::zeros({15}), Tensor::zeros({15})), "argument 'student_logits' must have rank 2");
  EXPECT_ERROR(kl_div_logits(a, Tensor::zeros({3, 5}, DType::BF16)), "argument 'teacher_logits' must be f32");
  EXPECT_ERROR(kl_div_logits(Tensor::zeros({3, 0}), Tensor::zeros({3, 0})), "no classes");
  EXPECT_ERROR(kl_div_logits(Tensor(), a), "argument 'student_logits' is an undefined tensor");
}
