#include "ops/conv.h"
#include "test_util.h"

using namespace zebra;

namespace {

struct ConvCase {
  int64_t B, T, C, K;
};

// y[b, t, c] = bias[c] + sum_k w[c, k] * x[b, t - (K-1) + k, c], in double.
std::vector<double> naive_conv(const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>& bias, const ConvCase& s) {
  std::vector<double> y(size_t(s.B * s.T * s.C));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = 0; c < s.C; ++c) {
        double acc = bias.empty() ? 0.0 : bias[size_t(c)];
        for (int64_t k = 0; k < s.K; ++k) {
          int64_t ts = t - (s.K - 1) + k;
          if (ts >= 0) acc += w[size_t(c * s.K + k)] * x[size_t((b * s.T + ts) * s.C + c)];
        }
        y[size_t((b * s.T + t) * s.C + c)] = acc;
      }
  return y;
}

// The adjoint of naive_conv for an output gradient g: dx, dw, dbias in double.
struct NaiveGrads {
  std::vector<double> dx, dw, db;
};
NaiveGrads naive_conv_grads(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& g,
                            const ConvCase& s) {
  NaiveGrads r{std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(size_t(s.C))};
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = 0; c < s.C; ++c) {
        double gv = g[size_t((b * s.T + t) * s.C + c)];
        r.db[size_t(c)] += gv;
        for (int64_t k = 0; k < s.K; ++k) {
          int64_t ts = t - (s.K - 1) + k;
          if (ts < 0) continue;
          r.dx[size_t((b * s.T + ts) * s.C + c)] += gv * w[size_t(c * s.K + k)];
          r.dw[size_t(c * s.K + k)] += gv * x[size_t((b * s.T + ts) * s.C + c)];
        }
      }
  return r;
}

}  // namespace

TEST(CausalConv1d, ForwardMatchesNaive) {
  // C = 67 crosses the kernel's 64-channel blocks; T < K leaves every output partly in the padding.
  for (ConvCase s : {ConvCase{3, 13, 67, 4}, ConvCase{2, 5, 7, 1}, ConvCase{2, 2, 5, 4}, ConvCase{1, 1, 3, 4},
                     ConvCase{2, 7, 130, 3}}) {
    SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " C=" << s.C << " K=" << s.K);
    Tensor x = test::randn({s.B, s.T, s.C}, 1), w = test::randn({s.C, s.K}, 2), bias = test::randn({s.C}, 3);
    std::vector<double> xd = x.to_double(), wd = w.to_double();
    EXPECT_TRUE(test::all_close(causal_conv1d(x, w, bias), naive_conv(xd, wd, bias.to_double(), s)));
    EXPECT_TRUE(test::all_close(causal_conv1d(x, w), naive_conv(xd, wd, {}, s)));
    EXPECT_TRUE(test::all_close(causal_conv1d(test::noncontig(x), test::noncontig(w), test::noncontig(bias)),
                                naive_conv(xd, wd, bias.to_double(), s)));
  }
}

TEST(CausalConv1d, BackwardMatchesNaive) {
  for (ConvCase s : {ConvCase{3, 13, 67, 4}, ConvCase{2, 5, 7, 1}, ConvCase{2, 2, 5, 4}}) {
    SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " C=" << s.C << " K=" << s.K);
    Tensor x = test::param(test::randn({s.B, s.T, s.C}, 4)), w = test::param(test::randn({s.C, s.K}, 5));
    Tensor bias = test::param(test::randn({s.C}, 6));
    Tensor g = test::randn({s.B, s.T, s.C}, 7);
    causal_conv1d(x, w, bias).backward(g);
    NaiveGrads want = naive_conv_grads(x.to_double(), w.to_double(), g.to_double(), s);
    EXPECT_TRUE(test::all_close(x.grad(), want.dx, 1e-5, 1e-4));
    EXPECT_TRUE(test::all_close(w.grad(), want.dw, 1e-5, 1e-4));
    EXPECT_TRUE(test::all_close(bias.grad(), want.db, 1e-5, 1e-4));
  }
}

TEST(CausalConv1d, FrozenWeightGetsNoGradient) {
  Tensor x = test::param(test::randn({2, 5, 3}, 8)), w = test::randn({3, 4}, 9);
  causal_conv1d(x, w).backward(test::randn({2, 5, 3}, 10));
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(CausalConv1d, Gradcheck) {
  auto f = [](const std::vector<Tensor>& in) { return causal_conv1d(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK(f, {test::param(test::randn({2, 5, 3}, 11)), test::param(test::randn({3, 4}, 12)),
                       test::param(test::randn({3}, 13))});
  EXPECT_GRADCHECK(f, {test::param(test::randn({1, 2, 3}, 14)), test::param(test::randn({3, 4}, 15)),
                       test::param(test::randn({3}, 16))});  // T < K
  auto nobias = [](const std::vector<Tensor>& in) { return causal_conv1d(in[0], in[1]); };
  EXPECT_GRADCHECK(nobias, {test::param(test::randn({2, 4, 3}, 17)), test::param(test::randn({3, 1}, 18))});
}

TEST(CausalConv1d, Errors) {
  Tensor x = test::randn({2, 5, 3}, 1), w = test::randn({3, 4}, 2), bias = test::randn({3}, 3);
  EXPECT_ERROR(causal_conv1d(Tensor(), w), "causal_conv1d: argument 'x' is an undefined tensor");
  EXPECT_ERROR(causal_conv1d(x, Tensor()), "causal_conv1d: argument 'weight' is an undefined tensor");
  EXPECT_ERROR(causal_conv1d(test::randn({5, 3}, 1), w), "causal_conv1d: argument 'x' must have rank 3");
  EXPECT_ERROR(causal_conv1d(x, test::randn({3, 4, 1}, 2)), "causal_conv1d: argument 'weight' must have rank 2");
  EXPECT_ERROR(causal_conv1d(x, test::randn({4, 4}, 2)), "causal_conv1d: weight f32[4, 4] cpu must be [C, K]");
  EXPECT_ERROR(causal_conv1d(x, Tensor::zeros({3, 0})), "kernel width K = 0");
  EXPECT_ERROR(causal_conv1d(x, w, test::randn({4}, 3)), "causal_conv1d: bias f32[4] cpu must be [3]");
  EXPECT_ERROR(causal_conv1d(x, w, test::randn({3, 1}, 3)), "causal_conv1d: bias f32[3, 1] cpu must be [3]");
  EXPECT_ERROR(causal_conv1d(x.to(DType::F64), w), "causal_conv1d: argument 'x' must be f32");
  EXPECT_ERROR(causal_conv1d(x, w, bias.to(DType::BF16)), "causal_conv1d: argument 'bias' must be f32");
}
