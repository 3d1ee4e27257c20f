// Elementwise ops: forward against double references (broadcast, non-contiguous, odd sizes),
// gradient checks, error cases.
#include <cmath>
#include <functional>

#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {

// Reference broadcasting: value of t (row-major doubles, shape s) at the out index.
double at(const std::vector<double>& v, const Shape& s, const Shape& out, int64_t flat) {
  Shape idx(out.size());
  for (size_t d = out.size(); d-- > 0;) {
    idx[d] = flat % out[d];
    flat /= out[d];
  }
  int64_t off = 0, stride = 1;
  for (size_t i = s.size(); i-- > 0;) {
    int64_t o = idx[out.size() - s.size() + i];
    off += (s[i] == 1 ? 0 : o) * stride;
    stride *= s[i];
  }
  return v[size_t(off)];
}

struct BinCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
};

std::vector<BinCase> bin_cases() {
  return {{"add", [](auto& a, auto& b) { return add(a, b); }, [](double x, double y) { return x + y; }},
          {"sub", [](auto& a, auto& b) { return sub(a, b); }, [](double x, double y) { return x - y; }},
          {"mul", [](auto& a, auto& b) { return mul(a, b); }, [](double x, double y) { return x * y; }},
          {"div", [](auto& a, auto& b) { return div(a, b); }, [](double x, double y) { return x / y; }}};
}

const std::vector<std::pair<Shape, Shape>> kBroadcasts = {
    {{7}, {7}}, {{3, 5}, {3, 5}}, {{3, 5}, {5}}, {{3, 1}, {1, 5}}, {{2, 3, 5}, {3, 1}},
    {{}, {4, 3}}, {{4, 3}, {}}, {{1, 67}, {13, 1}}, {{2, 1, 3}, {2, 5, 1}}};

}  // namespace

TEST(Elementwise, BinaryForwardBroadcastAndStrides) {
  for (auto& c : bin_cases()) {
    for (auto& [sa, sb] : kBroadcasts) {
      for (bool nc : {false, true}) {
        Tensor a = rand(sa, 1, 0.5, 2.0), b = rand(sb, 2, 0.5, 2.0);
        if (nc) a = noncontig(a), b = noncontig(b);
        Shape so = broadcast_shapes(sa, sb, "t");
        Tensor out = c.op(a, b);
        ASSERT_EQ(out.shape(), so) << c.name;
        auto va = a.to_double(), vb = b.to_double();
        std::vector<double> want(static_cast<size_t>(numel(so)));
        for (int64_t i = 0; i < numel(so); ++i) want[size_t(i)] = c.ref(at(va, sa, so, i), at(vb, sb, so, i));
        EXPECT_TRUE(all_close(out, want, 1e-6, 1e-6)) << c.name << " " << shape_str(sa) << " " << shape_str(sb);
      }
    }
  }
}

TEST(Elementwise, BinaryGradients) {
  for (auto& c : bin_cases()) {
    for (auto& [sa, sb] : kBroadcasts) {
      if (numel(sa) > 40 || numel(sb) > 40) continue;
      Tensor a = param(rand(sa, 3, 0.5, 2.0)), b = param(rand(sb, 4, 0.5, 2.0));
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return c.op(x[0], x[1]); }, {a, b});
    }
  }
}

struct UnCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;
};

TEST(Elementwise, UnaryForwardAndGradients) {
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  std::vector<UnCase> cases = {
      {"neg", [](auto& a) { return neg(a); }, [](double x) { return -x; }, -3, 3},
      {"exp", [](auto& a) { return exp(a); }, [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](auto& a) { return log(a); }, [](double x) { return std::log(x); }, 0.2, 4},
      {"sqrt", [](auto& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); }, 0.2, 4},
      {"rsqrt", [](auto& a) { return rsqrt(a); }, [](double x) { return 1 / std::sqrt(x); }, 0.3, 4},
      {"sigmoid", [](auto& a) { return sigmoid(a); }, sig, -6, 6},
      {"silu", [](auto& a) { return silu(a); }, [&](double x) { return x * sig(x); }, -6, 6},
      {"softplus", [](auto& a) { return softplus(a); }, [](double x) { return std::log1p(std::exp(x)); }, -6, 6},
      {"tanh", [](auto& a) { return tanh(a); }, [](double x) { return std::tanh(x); }, -3, 3},
      {"pow2", [](auto& a) { return pow(a, 2.0); }, [](double x) { return x * x; }, -3, 3},
      {"pow1.5", [](auto& a) { return pow(a, 1.5); }, [](double x) { return std::pow(x, 1.5); }, 0.2, 3},
      {"pow-1", [](auto& a) { return pow(a, -1.0); }, [](double x) { return 1 / x; }, 0.5, 3},
      {"add_s", [](auto& a) { return add(a, 2.5); }, [](double x) { return x + 2.5; }, -3, 3},
      {"mul_s", [](auto& a) { return mul(a, -1.5); }, [](double x) { return x * -1.5; }, -3, 3},
      {"clamp", [](auto& a) { return clamp(a, -0.5, 0.7); }, [](double x) { return std::min(0.7, std::max(-0.5, x)); }, -2, 2},
  };
  for (auto& c : cases) {
    for (bool nc : {false, true}) {
      Tensor a = rand({3, 67}, 11, c.lo, c.hi);
      if (nc) a = noncontig(a);
      auto va = a.to_double();
      std::vector<double> want;
      for (double x : va) want.push_back(c.ref(x));
      EXPECT_TRUE(all_close(c.op(a), want, 1e-6, 2e-6)) << c.name;
    }
    Tensor a = param(rand({2, 7}, 12, c.lo, c.hi));
    if (std::string(c.name) == "clamp") a = param(Tensor::from_vector(std::vector<float>{-1.2f, -0.3f, 0.1f, 0.5f, 1.5f}, {5}));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return c.op(x[0]); }, {a});
  }
}

TEST(Elementwise, SoftplusMatchesPyTorchThreshold) {
  Tensor a = Tensor::from_vector(std::vector<float>{25.0f, 20.5f, -30.0f}, {3});
  auto v = softplus(a).to_vector();
  EXPECT_EQ(v[0], 25.0f);
  EXPECT_EQ(v[1], 20.5f);
  EXPECT_NEAR(v[2], std::exp(-30.0), 1e-18);
}

TEST(Elementwise, WhereAndMaskedFill) {
  Tensor c = Tensor::from_vector(std::vector<float>{1, 0, 1, 0, 0, 1}, {2, 3}).to(DType::U8);
  Tensor a = rand({2, 3}, 5), b = rand({3}, 6);
  Tensor w = where(c, a, b);
  auto va = a.to_double(), vb = b.to_double();
  std::vector<double> want = {va[0], vb[1], va[2], vb[0], vb[1], va[5]};
  EXPECT_TRUE(all_close(w, want, 0, 0));
  // NaN in the chosen branch survives; NaN in the other branch does not leak.
  Tensor an = Tensor::from_vector(std::vector<float>{NAN, 1.0f}, {2});
  Tensor bn = Tensor::from_vector(std::vector<float>{2.0f, NAN}, {2});
  Tensor cn = Tensor::from_vector(std::vector<float>{1, 1}, {2}).to(DType::U8);
  auto r = where(cn, an, bn).to_vector();
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], 1.0f);
  Tensor m = masked_fill(a, c, -7.0);
  std::vector<double> wm = {-7, va[1], -7, va[3], va[4], -7};
  EXPECT_TRUE(all_close(m, wm, 0, 0));
  Tensor pa = param(rand({2, 3}, 7)), pb = param(rand({3}, 8));
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return where(c, x[0], x[1]); }, {pa, pb});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return masked_fill(x[0], c, 3.0); }, {pa});
}

TEST(Elementwise, SwiGLU) {
  Tensor g = rand({5, 13}, 21, -4, 4), u = rand({5, 13}, 22);
  auto vg = g.to_double(), vu = u.to_double();
  std::vector<double> want;
  for (size_t i = 0; i < vg.size(); ++i) want.push_back(vg[i] / (1 + std::exp(-vg[i])) * vu[i]);
  EXPECT_TRUE(all_close(swiglu(g, u), want, 1e-6, 1e-5));
  EXPECT_TRUE(all_close(swiglu(noncontig(g), noncontig(u)), want, 1e-6, 1e-5));
  Tensor pg = param(rand({3, 7}, 23, -3, 3)), pu = param(rand({3, 7}, 24));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return swiglu(x[0], x[1]); }, {pg, pu});
}

TEST(Elementwise, ChainAccumulatesThroughSharedInput) {
  Tensor x = param(rand({4}, 31));
  Tensor y = sum(mul(x, x) + exp(x));  // x used three times
  y.backward();
  auto vx = x.to_double();
  std::vector<double> want;
  for (double v : vx) want.push_back(2 * v + std::exp(v));
  EXPECT_TRUE(all_close(x.grad(), want, 1e-5, 1e-5));
}

TEST(Elementwise, Errors) {
  Tensor a = rand({2, 3}, 1), b = rand({4}, 2);
  EXPECT_ERROR(add(a, b), "do not broadcast");
  EXPECT_ERROR(mul(a, Tensor::zeros({2, 3}, DType::I32)), "must be f32");
  EXPECT_ERROR(exp(Tensor()), "undefined");
  EXPECT_ERROR(where(a, a, a), "'cond' must be u8");
  EXPECT_ERROR(swiglu(a, rand({3, 2}, 3)), "differ in shape");
  EXPECT_ERROR(clamp(a, 1.0, -1.0), "exceeds");
  EXPECT_ERROR(masked_fill(Tensor::zeros({3}), Tensor::zeros({2, 3}, DType::U8), 1.0), "would broadcast");
}
