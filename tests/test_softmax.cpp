// softmax / log_softmax: every axis against a double reference, row and strided kernels, odd sizes,
// ±1000 logits, non-contiguous inputs, gradients, errors.
#include <cmath>

#include "ops/shape_ops.h"
#include "ops/softmax.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {

// Softmax (or log-softmax) of x along axis in double, x read row-major.
std::vector<double> ref_softmax(const Tensor& x, int64_t axis, bool log) {
  std::vector<double> v = x.to_double(), out(v.size());
  const Shape& s = x.shape();
  int64_t a = axis < 0 ? axis + x.dim() : axis, outer = 1, inner = 1, n = s[size_t(a)];
  for (int64_t d = 0; d < a; ++d) outer *= s[size_t(d)];
  for (int64_t d = a + 1; d < x.dim(); ++d) inner *= s[size_t(d)];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t c) { return size_t((o * n + c) * inner + j); };
      double m = -INFINITY, sum = 0.0;
      for (int64_t c = 0; c < n; ++c) m = std::max(m, v[at(c)]);
      for (int64_t c = 0; c < n; ++c) sum += std::exp(v[at(c)] - m);
      for (int64_t c = 0; c < n; ++c) out[at(c)] = log ? v[at(c)] - m - std::log(sum) : std::exp(v[at(c)] - m) / sum;
    }
  return out;
}

Tensor run(bool log, const Tensor& x, int64_t axis) { return log ? log_softmax(x, axis) : softmax(x, axis); }

}  // namespace

TEST(Softmax, LastAxisRowsOfOddLengths) {
  for (bool log : {false, true})
    for (int64_t V : {1, 7, 1001})
      for (bool nc : {false, true}) {
        Tensor x = rand({13, V}, uint64_t(V), -4, 4);
        if (nc) x = noncontig(x);
        Tensor y = run(log, x, -1);
        EXPECT_EQ(y.shape(), x.shape());
        EXPECT_TRUE(all_close(y, ref_softmax(x, -1, log), 1e-6, 1e-5)) << "log " << log << " V " << V;
      }
}

TEST(Softmax, EveryAxisIncludingWideStridedBlocks) {
  // inner = 134 spans three column blocks of the strided kernel, the last one partial.
  for (Shape s : {Shape{5, 7, 3}, Shape{3, 5, 134}, Shape{67}, Shape{2, 1, 5}})
    for (bool log : {false, true})
      for (int64_t axis = -int64_t(s.size()); axis < int64_t(s.size()); ++axis)
        for (bool nc : {false, true}) {
          Tensor x = rand(s, 3, -5, 5);
          if (nc) x = noncontig(x);
          EXPECT_TRUE(all_close(run(log, x, axis), ref_softmax(x, axis, log), 1e-6, 1e-5))
              << shape_str(s) << " axis " << axis << " log " << log << " nc " << nc;
        }
}

TEST(Softmax, ManyRowsSplitAcrossThreads) {
  Tensor x = randn({67, 1001}, 4, 3.0);
  Tensor y = softmax(x, 1);
  EXPECT_TRUE(all_close(y, ref_softmax(x, 1, false), 1e-7, 1e-5));
  std::vector<double> v = y.to_double();
  for (int r = 0; r < 67; ++r) {
    double s = 0;
    for (int c = 0; c < 1001; ++c) s += v[size_t(r * 1001 + c)];
    EXPECT_NEAR(s, 1.0, 1e-5) << r;
  }
  Tensor t = transpose(x, 0, 1);  // softmax down the 67-long axis of a [1001, 67] view
  EXPECT_TRUE(all_close(log_softmax(t, 0), ref_softmax(t, 0, true), 1e-5, 1e-5));
}

TEST(Softmax, StableForLargeMagnitudes) {
  for (bool log : {false, true}) {
    Tensor x = rand({5, 7, 9}, 5, -1000, 1000);
    for (int64_t axis : {0, 2}) {
      Tensor y = run(log, x, axis);
      for (double v : y.to_double()) EXPECT_TRUE(std::isfinite(v));
      EXPECT_TRUE(all_close(y, ref_softmax(x, axis, log), 1e-5, 1e-4)) << "log " << log << " axis " << axis;
    }
  }
  // One dominant logit: probability 1 and log-probability 0 exactly, the rest underflow cleanly.
  Tensor x = Tensor::from_vector(std::vector<float>{1000, -1000, 0, 999}, {1, 4});
  EXPECT_TRUE(all_close(softmax(x), std::vector<double>{1 / (1 + std::exp(-1.0)), 0, 0, 1 / (1 + std::exp(1.0))}, 1e-7));
  EXPECT_TRUE(all_close(log_softmax(x), ref_softmax(x, -1, true), 1e-5, 1e-6));
}

TEST(Softmax, Gradients) {
  for (bool log : {false, true}) {
    Tensor x = param(rand({3, 4, 5}, 6, -2, 2));
    for (int64_t axis : {0, 1, 2})
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return run(log, in[0], axis); }, {x});
    // Non-contiguous input (a transposed view) and a one-element softmax axis.
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return run(log, transpose(in[0], 0, 2), -1); }, {x});
    Tensor one = param(rand({4, 1}, 7));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return run(log, in[0], 1); }, {one});
  }
}

TEST(Softmax, BackwardMatchesTheClosedForm) {
  // d/dx sum(w * softmax(x)) = y * (w - sum(w * y)); for log_softmax: w - softmax * sum(w).
  Tensor x = param(rand({7, 1001}, 8, -3, 3));
  Tensor w = rand({7, 1001}, 9);
  for (bool log : {false, true}) {
    x.zero_grad();
    Tensor y = run(log, x, 1);
    y.backward(w);
    std::vector<double> p = ref_softmax(x, 1, false), wv = w.to_double(), want(p.size());
    for (int r = 0; r < 7; ++r) {
      double s = 0;
      for (int c = 0; c < 1001; ++c) s += log ? wv[size_t(r * 1001 + c)] : wv[size_t(r * 1001 + c)] * p[size_t(r * 1001 + c)];
      for (int c = 0; c < 1001; ++c) {
        size_t i = size_t(r * 1001 + c);
        want[i] = log ? wv[i] - p[i] * s : p[i] * (wv[i] - s);
      }
    }
    EXPECT_TRUE(all_close(x.grad(), want, 1e-7, 1e-4)) << "log " << log;
  }
}

TEST(Softmax, Errors) {
  EXPECT_ERROR(softmax(Tensor::zeros({3, 4}), 2), "softmax: axis 2 out of range for f32[3, 4] cpu");
  EXPECT_ERROR(log_softmax(Tensor::zeros({3, 4}), -3), "log_softmax: axis -3 out of range");
  EXPECT_ERROR(softmax(Tensor::scalar(1.0)), "out of range for f32[] cpu");
  EXPECT_ERROR(softmax(Tensor::zeros({3}, DType::I32)), "softmax: argument 'x' must be f32");
  EXPECT_ERROR(log_softmax(Tensor::zeros({3}, DType::F64)), "must be f32");
  EXPECT_ERROR(softmax(Tensor()), "undefined");
}
