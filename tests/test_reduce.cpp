// Reductions: sum / mean / max / logsumexp over axis sets, keepdim, non-contiguous inputs,
// gradient checks, sum_to, errors.
#include <cmath>
#include <limits>

#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {
enum class K { Sum, Mean, Max, Lse };

// Naive reduction: iterate every input element, bucket by output index.
std::vector<double> ref_reduce(const Tensor& x, std::vector<int64_t> axes, K k) {
  Shape s = x.shape();
  std::vector<bool> red(s.size(), axes.empty());
  for (auto a : axes) red[size_t(a < 0 ? a + int64_t(s.size()) : a)] = true;
  Shape os;
  for (size_t i = 0; i < s.size(); ++i) os.push_back(red[i] ? 1 : s[i]);
  auto v = x.to_double();
  int64_t n_out = numel(os);
  std::vector<std::vector<double>> buckets(static_cast<size_t>(n_out));
  for (int64_t f = 0; f < numel(s); ++f) {
    int64_t rem = f, o = 0, st = 1;
    for (size_t d = s.size(); d-- > 0;) {
      int64_t i = rem % s[d];
      rem /= s[d];
      o += (red[d] ? 0 : i) * st;
      st *= os[d];
    }
    buckets[size_t(o)].push_back(v[size_t(f)]);
  }
  std::vector<double> out;
  for (auto& b : buckets) {
    double r = 0;
    if (k == K::Sum || k == K::Mean) {
      for (double e : b) r += e;
      if (k == K::Mean) r /= double(b.size());
    } else {
      double m = -INFINITY;
      for (double e : b) m = std::max(m, e);
      if (k == K::Max) r = m;
      else {
        double s2 = 0;
        for (double e : b) s2 += std::exp(e - m);
        r = m + std::log(s2);
      }
    }
    out.push_back(r);
  }
  return out;
}

Tensor run(K k, const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
  switch (k) {
    case K::Sum: return sum(x, axes, keep);
    case K::Mean: return mean(x, axes, keep);
    case K::Max: return max(x, axes, keep);
    case K::Lse: return logsumexp(x, axes, keep);
  }
  return Tensor();
}

const std::vector<std::vector<int64_t>> kAxes = {{}, {0}, {1}, {2}, {-1}, {0, 1}, {1, 2}, {0, 2}, {2, 0}};
}  // namespace

TEST(Reduce, ForwardAllAxisSets) {
  for (K k : {K::Sum, K::Mean, K::Max, K::Lse}) {
    for (auto& axes : kAxes) {
      for (bool nc : {false, true}) {
        Tensor x = rand({3, 5, 7}, 41, -3, 3);
        if (nc) x = noncontig(x);
        for (bool keep : {false, true}) {
          Tensor y = run(k, x, axes, keep);
          Shape want_shape;
          for (int64_t i = 0; i < 3; ++i) {
            bool r = axes.empty();
            for (auto a : axes) r |= (a < 0 ? a + 3 : a) == i;
            if (!r) want_shape.push_back(x.shape()[size_t(i)]);
            else if (keep) want_shape.push_back(1);
          }
          EXPECT_EQ(y.shape(), want_shape);
          EXPECT_TRUE(all_close(y, ref_reduce(x, axes, k), 1e-5, 1e-5)) << int(k) << " axes " << shape_str(axes);
        }
      }
    }
  }
}

TEST(Reduce, Gradients) {
  for (K k : {K::Sum, K::Mean, K::Max, K::Lse}) {
    for (auto& axes : kAxes) {
      // Distinct values 0.1 apart, shuffled: max's argmax cannot flip within the +-eps probe.
      std::vector<float> v(60);
      for (int i = 0; i < 60; ++i) v[size_t(i)] = 0.1f * float((i * 37) % 60) - 3.0f;
      Tensor x = param(Tensor::from_vector(v, {3, 4, 5}));
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return run(k, in[0], axes, false); }, {x});
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return run(k, in[0], axes, true); }, {x});
    }
  }
}

TEST(Reduce, MaxGradientGoesToFirstMaximum) {
  Tensor x = param(Tensor::from_vector(std::vector<float>{1, 3, 3, 2, 5, 5}, {2, 3}));
  max(x, {1}).backward(Tensor::ones({2}));
  EXPECT_TRUE(all_close(x.grad(), std::vector<double>{0, 1, 0, 0, 1, 0}, 0, 0));
}

TEST(Reduce, LogSumExpStableAndInfinite) {
  Tensor x = Tensor::from_vector(std::vector<float>{1000, 1000, -INFINITY, -INFINITY}, {2, 2});
  auto v = logsumexp(x, {1}).to_vector();
  EXPECT_NEAR(v[0], 1000 + std::log(2.0), 1e-3);
  EXPECT_TRUE(std::isinf(v[1]) && v[1] < 0);
}

TEST(Reduce, SumAccumulatesInDouble) {
  // 2^24 + many ones: an f32 running sum would stall at 16777216.
  std::vector<float> v(1 << 12, 1.0f);
  v[0] = 16777216.0f;
  EXPECT_EQ(sum(Tensor::from_vector(v, {int64_t(v.size())})).item(), double(float(16777216.0 + 4095.0)));
}

TEST(Reduce, SumTo) {
  Tensor g = rand({2, 3, 5}, 51);
  auto v = g.to_double();
  EXPECT_TRUE(all_close(sum_to(g, {5}), ref_reduce(g, {0, 1}, K::Sum), 1e-5));
  EXPECT_TRUE(all_close(sum_to(g, {3, 1}), ref_reduce(g, {0, 2}, K::Sum), 1e-5));
  EXPECT_EQ(sum_to(g, {3, 1}).shape(), (Shape{3, 1}));
  EXPECT_TRUE(all_close(sum_to(g, {}), ref_reduce(g, {}, K::Sum), 1e-5));
  EXPECT_TRUE(sum_to(g, g.shape()).same(g));
  EXPECT_ERROR(sum_to(g, {4}), "cannot reduce");
  EXPECT_ERROR(sum_to(g, {1, 2, 3, 5}), "cannot reduce");
}

TEST(Reduce, Errors) {
  Tensor x = rand({2, 3}, 1);
  EXPECT_ERROR(sum(x, {2}), "axis 2 out of range");
  EXPECT_ERROR(sum(x, {1, -1}), "given twice");
  EXPECT_ERROR(max(Tensor::zeros({2, 0}), {1}), "empty axis");
  EXPECT_ERROR(mean(Tensor::zeros({3}, DType::I64)), "must be f32");
}
