// The Mamba2 layer: chunked forward against a sequential double-precision recurrence, prefill +
// decode steps against the full forward, gradients through the whole layer, the initial-state
// path, errors, cache accounting, and parity with transformers / a PyTorch upcycled reference when
// the fixtures of tools/fixtures/make_mamba2_fixtures.py are present.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/mamba2.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace zebra;
namespace fs = std::filesystem;

namespace {

const char* kPrefix = "m.";
const std::vector<std::string> kNames = {"in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias",
                                         "A_log",          "D",             "norm.weight", "out_proj.weight"};

// Upcycled: x and B from 2 kv heads repeated to 4 heads, C per head, d_state = head_dim.
Mamba2Config upcycled_cfg() {
  Mamba2Config c = Mamba2Config::upcycled(20, 4, 2, 5);
  c.chunk_size = 4;
  return c;
}
// Standard: expand 2, C and B shared by 2 groups of 2 heads, x per head.
Mamba2Config standard_cfg() {
  Mamba2Config c = Mamba2Config::standard(6, 2, 3, 5, 1);
  c.n_groups = c.b_groups = 2;
  c.chunk_size = 5;
  return c;
}

// Initialised per RECIPE, then D, norm and dt_bias spread so every path moves the output.
ParamStore make_store(const Mamba2Config& c, uint64_t seed) {
  ParamStore s;
  Mamba2Layer::init_params(c, s, kPrefix, seed);
  s.get("m.D").copy_(test::rand({c.n_heads}, seed + 1, 0.5, 1.5));
  s.get("m.norm.weight").copy_(test::rand({c.d_inner}, seed + 2, 0.5, 1.5));
  s.get("m.dt_bias").copy_(test::rand({c.n_heads}, seed + 3, -1.0, 1.0));
  s.get("m.A_log").copy_(test::rand({c.n_heads}, seed + 4, -1.0, 1.0));
  return s;
}

struct Ref {
  std::vector<double> y;     // [B, T, d_model]
  std::vector<double> h;     // [B, H, P, N]
  std::vector<double> conv;  // [B, Cc, K-1]
};

double silu(double v) { return v / (1.0 + std::exp(-v)); }

// The layer written as the recurrence, token by token, in double. h0, conv0: optional start state.
Ref reference(const Mamba2Config& c, const ParamStore& s, const Tensor& x, const Tensor& h0 = Tensor(),
              const Tensor& conv0 = Tensor()) {
  auto P_ = [&](const char* n) { return s.get(std::string(kPrefix) + n).to_double(); };
  const auto W = P_("in_proj.weight"), cw = P_("conv1d.weight"), cb = P_("conv1d.bias"), dtb = P_("dt_bias"),
             al = P_("A_log"), Dp = P_("D"), nw = P_("norm.weight"), ow = P_("out_proj.weight");
  const auto xv = x.to_double();
  const int64_t Bs = x.size(0), T = x.size(1), Dm = c.d_model, H = c.n_heads, P = c.head_dim, N = c.d_state;
  const int64_t K = c.conv_kernel, Cc = c.conv_channels(), R = c.in_proj_rows(), Di = c.d_inner;
  const int64_t G = c.group_size();
  std::vector<double> h0v = h0.defined() ? h0.to_double() : std::vector<double>(size_t(Bs * H * P * N), 0.0);
  std::vector<double> c0v = conv0.defined() ? conv0.to_double() : std::vector<double>(size_t(Bs * Cc * (K - 1)), 0.0);
  Ref r;
  r.y.assign(size_t(Bs * T * Dm), 0.0);
  r.h = h0v;
  r.conv.assign(size_t(Bs * Cc * (K - 1)), 0.0);
  for (int64_t b = 0; b < Bs; ++b) {
    std::vector<std::vector<double>> proj(size_t(T), std::vector<double>(size_t(R), 0.0));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < R; ++i)
        for (int64_t d = 0; d < Dm; ++d) proj[t][i] += W[i * Dm + d] * xv[(b * T + t) * Dm + d];
    // u: the conv inputs with the K-1 start-state columns in front.
    std::vector<std::vector<double>> u(size_t(K - 1 + T), std::vector<double>(size_t(Cc)));
    for (int64_t k = 0; k < K - 1; ++k)
      for (int64_t ch = 0; ch < Cc; ++ch) u[k][ch] = c0v[(b * Cc + ch) * (K - 1) + k];
    for (int64_t t = 0; t < T; ++t)
      for (int64_t ch = 0; ch < Cc; ++ch) u[K - 1 + t][ch] = proj[t][Di + ch];
    for (int64_t k = 0; k < K - 1; ++k)
      for (int64_t ch = 0; ch < Cc; ++ch) r.conv[(b * Cc + ch) * (K - 1) + k] = u[T + k][ch];
    double* hs = &r.h[size_t(b * H * P * N)];
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> act(static_cast<size_t>(Cc), 0.0);
      for (int64_t ch = 0; ch < Cc; ++ch) {
        double v = cb[ch];
        for (int64_t k = 0; k < K; ++k) v += cw[ch * K + k] * u[t + k][ch];
        act[ch] = silu(v);
      }
      std::vector<double> y(static_cast<size_t>(Di), 0.0);
      for (int64_t h = 0; h < H; ++h) {
        const double* xh = &act[size_t((h / (H / c.x_heads)) * P)];
        const double* bh = &act[size_t(c.x_heads * P + (h / (H / c.b_groups)) * N)];
        const double* ch_ = &act[size_t(c.x_heads * P + c.b_groups * N + (h / (H / c.n_groups)) * N)];
        double v = proj[t][Di + Cc + h] + dtb[h];
        double dt = v > 20 ? v : std::log1p(std::exp(v));
        dt = std::min(std::max(dt, c.dt_min), c.dt_max);
        double decay = std::exp(-dt * std::exp(al[h]));
        for (int64_t p = 0; p < P; ++p) {
          double acc = 0;
          for (int64_t n = 0; n < N; ++n) {
            double& st = hs[(h * P + p) * N + n];
            st = decay * st + dt * bh[n] * xh[p];
            acc += ch_[n] * st;
          }
          y[h * P + p] = acc + Dp[h] * xh[p];
        }
      }
      std::vector<double> g(static_cast<size_t>(Di), 0.0);
      for (int64_t i = 0; i < Di; ++i) g[i] = y[i] * silu(proj[t][i]);
      for (int64_t g0 = 0; g0 < Di; g0 += G) {
        double ms = 0;
        for (int64_t i = g0; i < g0 + G; ++i) ms += g[i] * g[i];
        double inv = 1.0 / std::sqrt(ms / double(G) + c.norm_eps);
        for (int64_t i = g0; i < g0 + G; ++i) g[i] *= inv * nw[i];
      }
      for (int64_t o = 0; o < Dm; ++o) {
        double v = 0;
        for (int64_t i = 0; i < Di; ++i) v += ow[o * Di + i] * g[i];
        r.y[(b * T + t) * Dm + o] = v;
      }
    }
  }
  return r;
}

Tensor slice_t(const Tensor& x, int64_t start, int64_t end) {
  NoGrad ng;
  return slice(x, 1, start, end).contiguous();
}

}  // namespace

class Mamba2Configs : public ::testing::TestWithParam<bool> {
 protected:
  Mamba2Config cfg() const { return GetParam() ? upcycled_cfg() : standard_cfg(); }
};

TEST_P(Mamba2Configs, ChunkedForwardMatchesSequentialRecurrence) {
  const Mamba2Config base = cfg();
  ParamStore s = make_store(base, 11);
  for (int64_t T : {1, 7, 13}) {
    Tensor x = test::rand({2, T, base.d_model}, 100 + T);
    Ref want = reference(base, s, x);
    for (int64_t chunk : {1, 3, 4, 13, 64}) {
      Mamba2Config c = base;
      c.chunk_size = chunk;
      Mamba2Layer layer(c, s, kPrefix);
      Mamba2Output out = layer.forward(test::noncontig(x));
      EXPECT_TRUE(test::all_close(out.y, want.y, 1e-5, 1e-4)) << "T " << T << " chunk " << chunk;
      EXPECT_TRUE(test::all_close(out.state.ssm_state, want.h, 1e-5, 1e-4)) << "T " << T << " chunk " << chunk;
      EXPECT_TRUE(test::all_close(out.state.conv_state, want.conv, 1e-6, 1e-5)) << "T " << T << " chunk " << chunk;
    }
  }
}

TEST_P(Mamba2Configs, DtLimitClampsTheStep) {
  Mamba2Config c = cfg();
  c.dt_min = 0.3;
  c.dt_max = 0.6;
  ParamStore s = make_store(c, 12);
  Tensor x = test::rand({1, 9, c.d_model}, 5);
  Mamba2Output out = Mamba2Layer(c, s, kPrefix).forward(x);
  EXPECT_TRUE(test::all_close(out.y, reference(c, s, x).y, 1e-5, 1e-4));
  Mamba2Config unclamped = cfg();
  EXPECT_FALSE(test::all_close(Mamba2Layer(unclamped, s, kPrefix).forward(x).y, reference(c, s, x).y, 1e-5, 1e-4));
}

TEST_P(Mamba2Configs, PrefillThenStepsMatchFullForward) {
  const Mamba2Config c = cfg();
  ParamStore s = make_store(c, 21);
  Mamba2Layer layer(c, s, kPrefix);
  const int64_t T1 = 6, T2 = 7;
  Tensor x = test::rand({2, T1 + T2, c.d_model}, 7);
  NoGrad ng;
  Tensor full = layer.forward(x).y;
  Mamba2Output pre = layer.forward(slice_t(x, 0, T1));
  EXPECT_TRUE(test::all_close(pre.y, slice_t(full, 0, T1), 1e-5, 1e-4));
  Mamba2Cache cache = pre.state;
  for (int64_t t = T1; t < T1 + T2; ++t) {
    Tensor y = layer.step(slice_t(x, t, t + 1), cache);
    EXPECT_TRUE(test::all_close(y, slice_t(full, t, t + 1), 1e-5, 1e-4)) << "token " << t;
  }
  Ref want = reference(c, s, x);
  EXPECT_TRUE(test::all_close(cache.ssm_state, want.h, 1e-5, 1e-4));
  EXPECT_TRUE(test::all_close(cache.conv_state, want.conv, 1e-6, 1e-5));
  // Decoding from an empty cache is the forward of the same tokens.
  Mamba2Cache fresh = layer.make_cache(2);
  for (int64_t t = 0; t < 3; ++t)
    EXPECT_TRUE(test::all_close(layer.step(slice_t(x, t, t + 1), fresh), slice_t(full, t, t + 1), 1e-5, 1e-4));
}

TEST_P(Mamba2Configs, ForwardContinuesAGivenState) {
  const Mamba2Config c = cfg();
  ParamStore s = make_store(c, 31);
  Mamba2Layer layer(c, s, kPrefix);
  Tensor x = test::rand({2, 12, c.d_model}, 9);
  Mamba2Output first = layer.forward(slice_t(x, 0, 5));
  Mamba2Output rest = layer.forward(slice_t(x, 5, 12), &first.state);
  Ref want = reference(c, s, x);
  Ref want_rest = reference(c, s, slice_t(x, 5, 12), first.state.ssm_state, first.state.conv_state);
  EXPECT_TRUE(test::all_close(rest.y, want_rest.y, 1e-5, 1e-4));
  EXPECT_TRUE(test::all_close(rest.y, slice_t(layer.forward(x).y, 5, 12), 1e-5, 1e-4));
  EXPECT_TRUE(test::all_close(rest.state.ssm_state, want.h, 1e-5, 1e-4));
  // A nonzero random start state, too.
  Mamba2Cache st{test::rand({2, c.conv_channels(), c.conv_kernel - 1}, 3),
                 test::rand({2, c.n_heads, c.head_dim, c.d_state}, 4)};
  Mamba2Output o = layer.forward(x, &st);
  Ref w2 = reference(c, s, x, st.ssm_state, st.conv_state);
  EXPECT_TRUE(test::all_close(o.y, w2.y, 1e-5, 1e-4));
  EXPECT_TRUE(test::all_close(o.state.ssm_state, w2.h, 1e-5, 1e-4));
}

INSTANTIATE_TEST_SUITE_P(Mamba2, Mamba2Configs, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "upcycled" : "standard"; });

TEST(Mamba2, SsdChunkedMatchesRecurrenceWithInitialState) {
  const int64_t Bs = 2, T = 11, H = 3, P = 5, N = 7;
  Tensor x = test::rand({Bs, T, H, P}, 1), a = test::rand({Bs, T, H}, 2, -1.0, 0.0);
  Tensor b = test::rand({Bs, T, H, N}, 3), c = test::rand({Bs, T, H, N}, 4), h0 = test::rand({Bs, H, P, N}, 5);
  auto xv = x.to_double(), av = a.to_double(), bv = b.to_double(), cv = c.to_double(), h = h0.to_double();
  std::vector<double> y(static_cast<size_t>(Bs * T * H * P), 0.0);
  for (int64_t i = 0; i < Bs; ++i)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t hh = 0; hh < H; ++hh)
        for (int64_t p = 0; p < P; ++p) {
          double acc = 0;
          for (int64_t n = 0; n < N; ++n) {
            double& st = h[((i * H + hh) * P + p) * N + n];
            st = std::exp(av[(i * T + t) * H + hh]) * st + bv[((i * T + t) * H + hh) * N + n] * xv[((i * T + t) * H + hh) * P + p];
            acc += cv[((i * T + t) * H + hh) * N + n] * st;
          }
          y[((i * T + t) * H + hh) * P + p] = acc;
        }
  for (int64_t chunk : {1, 2, 4, 11, 32}) {
    auto [got, hT] = ssd_chunked(test::noncontig(x), a, test::noncontig(b), c, chunk, h0);
    EXPECT_TRUE(test::all_close(got, y, 1e-5, 1e-4)) << "chunk " << chunk;
    EXPECT_TRUE(test::all_close(hT, h, 1e-5, 1e-4)) << "chunk " << chunk;
  }
}

TEST(Mamba2, SsdChunkedGradients) {
  std::vector<Tensor> in = {test::param(test::rand({1, 5, 2, 2}, 1)), test::param(test::rand({1, 5, 2}, 2, -1.0, 0.0)),
                            test::param(test::rand({1, 5, 2, 3}, 3)), test::param(test::rand({1, 5, 2, 3}, 4)),
                            test::param(test::rand({1, 2, 2, 3}, 5))};
  for (bool final_state : {false, true}) {
    auto f = [final_state](const std::vector<Tensor>& v) {
      auto [y, h] = ssd_chunked(v[0], v[1], v[2], v[3], 2, v[4]);
      return final_state ? h : y;
    };
    EXPECT_GRADCHECK(f, in);
  }
}

TEST(Mamba2, GradientsThroughTheWholeLayer) {
  for (bool upcycled : {true, false}) {
    Mamba2Config c = upcycled ? Mamba2Config::upcycled(4, 2, 1, 2) : Mamba2Config::standard(3, 2, 3, 2, 1);
    if (!upcycled) c.n_groups = c.b_groups = 2;
    c.chunk_size = 2;
    ParamStore s = make_store(c, 41);
    std::vector<Tensor> in = {test::param(test::rand({2, 5, c.d_model}, 3))};
    for (auto& n : kNames) in.push_back(s.get(kPrefix + n));
    auto f = [&c](const std::vector<Tensor>& v) {
      ParamStore st;
      for (size_t i = 0; i < kNames.size(); ++i) st.add(kPrefix + kNames[i], v[i + 1]);
      return Mamba2Layer(c, st, kPrefix).forward(v[0]).y;
    };
    GradcheckOptions o;
    o.eps = 3e-3;
    EXPECT_GRADCHECK(f, in, o);
  }
}

TEST(Mamba2, CacheBytesAndInit) {
  Mamba2Config c = upcycled_cfg();
  ParamStore s;
  Mamba2Layer::init_params(c, s, kPrefix, 5);
  Mamba2Layer layer(c, s, kPrefix);
  Mamba2Cache cache = layer.make_cache(3);
  EXPECT_EQ(cache.bytes(), 4 * (3 * c.conv_channels() * (c.conv_kernel - 1) + 3 * c.n_heads * c.head_dim * c.d_state));
  EXPECT_EQ(c.conv_channels(), 2 * 5 + 2 * 5 + 4 * 5);
  EXPECT_EQ(s.get("m.in_proj.weight").size(0), 20 + 40 + 4);
  for (double v : s.get("m.dt_bias").to_double()) {
    double dt = std::log1p(std::exp(v));
    EXPECT_GE(dt, 1e-3 * 0.999);
    EXPECT_LE(dt, 1e-1 * 1.001);
  }
  for (double v : s.get("m.A_log").to_double()) EXPECT_TRUE(v >= 0.0 && v <= std::log(16.0) + 1e-6) << v;
  EXPECT_TRUE(test::all_close(s.get("m.D"), std::vector<double>(4, 1.0), 0, 0));
  ParamStore again;
  Mamba2Layer::init_params(c, again, kPrefix, 5);
  for (auto& n : kNames) EXPECT_TRUE(test::all_close(again.get(kPrefix + n), s.get(kPrefix + n), 0, 0)) << n;
  EXPECT_EQ(Mamba2Config::standard(64).n_heads, 2);
  EXPECT_EQ(Mamba2Config::standard(64).group_size(), 128);
  EXPECT_EQ(Mamba2Config::upcycled(2048, 32, 8, 64).in_proj_rows(), 5152);
  EXPECT_EQ(Mamba2Config::upcycled(2048, 32, 8, 64).conv_channels(), 3072);
  EXPECT_EQ(Mamba2Config::upcycled(2048, 32, 8, 64).group_size(), 64);
}

TEST(Mamba2, Errors) {
  Mamba2Config c = upcycled_cfg();
  auto bad = [&](auto edit) {
    Mamba2Config b = c;
    edit(b);
    return b;
  };
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.d_inner = 21; }).validate(), "d_inner (21) != n_heads (4) * head_dim (5)");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.x_heads = 3; }).validate(), "not a multiple of x_heads (3)");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.n_groups = 3; }).validate(), "not a multiple of n_groups (3)");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.b_groups = 3; }).validate(), "not a multiple of b_groups (3)");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.conv_kernel = 1; }).validate(), "conv_kernel");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.d_state = 0; }).validate(), "d_state must be positive");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.dt_max = 0; }).validate(), "dt_limit");
  EXPECT_ERROR(bad([](Mamba2Config& b) { b.norm_group_size = 3; }).validate(), "norm_group_size");

  ParamStore s = make_store(c, 1);
  Mamba2Layer layer(c, s, kPrefix);
  EXPECT_ERROR(layer.forward(test::rand({2, 20}, 1)), "mamba2 forward: argument 'x' must be [B, T, 20], got f32[2, 20]");
  EXPECT_ERROR(layer.forward(test::rand({1, 3, 19}, 1)), "got f32[1, 3, 19]");
  EXPECT_ERROR(layer.forward(Tensor::zeros({1, 3, 20}, DType::I32)), "mamba2 forward");
  Mamba2Cache one = layer.make_cache(1);
  EXPECT_ERROR(layer.step(test::rand({1, 2, 20}, 1), one), "must hold one token");
  Mamba2Cache wrong = layer.make_cache(2);
  EXPECT_ERROR(layer.step(test::rand({1, 1, 20}, 1), wrong), "conv_state is f32[2, 40, 3] cpu, expected [1, 40, 3]");
  Mamba2Cache empty;
  EXPECT_ERROR(layer.step(test::rand({1, 1, 20}, 1), empty), "cache is empty");
  EXPECT_ERROR(layer.forward(test::rand({1, 3, 20}, 1), &wrong), "mamba2 forward: conv_state");
  ParamStore partial;
  EXPECT_ERROR(Mamba2Layer(c, partial, kPrefix), "parameter m.in_proj.weight is not in the store");
  ParamStore other = make_store(standard_cfg(), 1);
  EXPECT_ERROR(Mamba2Layer(c, other, kPrefix), "mamba2: parameter m.in_proj.weight is f32[");
  EXPECT_ERROR(ssd_chunked(test::rand({1, 4, 2, 3}, 1), test::rand({1, 4, 3}, 1), test::rand({1, 4, 2, 5}, 1),
                           test::rand({1, 4, 2, 5}, 1), 2),
               "ssd_chunked: argument 'a' must be [1, 4, 2]");
  EXPECT_ERROR(ssd_chunked(test::rand({1, 4, 2, 3}, 1), test::rand({1, 4, 2}, 1), test::rand({1, 4, 2, 5}, 1),
                           test::rand({1, 4, 2, 4}, 1), 2),
               "argument 'c'");
  EXPECT_ERROR(ssd_chunked(test::rand({1, 4, 2, 3}, 1), test::rand({1, 4, 2}, 1), test::rand({1, 4, 2, 5}, 1),
                           test::rand({1, 4, 2, 5}, 1), 0),
               "chunk must be positive");
  EXPECT_ERROR(ssd_chunked(test::rand({1, 4, 2, 3}, 1), test::rand({1, 4, 2}, 1), test::rand({1, 4, 2, 5}, 1),
                           test::rand({1, 4, 2, 5}, 1), 2, test::rand({1, 2, 3, 4}, 1)),
               "argument 'h0' must be [1, 2, 3, 5]");
}

// Parity with transformers' Mamba2Mixer (standard) and a PyTorch upcycled reimplementation.
class Mamba2Parity : public ::testing::TestWithParam<const char*> {};

TEST_P(Mamba2Parity, MatchesPyTorch) {
  fs::path dir = fs::path(ZEBRA_SOURCE_DIR) / "tests" / "fixtures" / "mamba2" / GetParam();
  if (!fs::exists(dir / "reference.safetensors"))
    GTEST_SKIP() << "no fixture at " << dir << ": run tools/fixtures/make_mamba2_fixtures.py tests/fixtures/mamba2 "
                 << "where PyTorch and transformers are installed";
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  Mamba2Config c;
  c.d_model = j["d_model"];
  c.d_inner = j["d_inner"];
  c.n_heads = j["n_heads"];
  c.head_dim = j["head_dim"];
  c.d_state = j["d_state"];
  c.n_groups = j["n_groups"];
  c.x_heads = j["x_heads"];
  c.b_groups = j["b_groups"];
  c.conv_kernel = j["conv_kernel"];
  c.chunk_size = j["chunk_size"];
  c.norm_eps = j["norm_eps"];
  c.norm_group_size = j["norm_group_size"];
  SafetensorsFile w = SafetensorsFile::open((dir / "weights.safetensors").string());
  SafetensorsFile ref = SafetensorsFile::open((dir / "reference.safetensors").string());
  ParamStore s;
  for (auto& n : kNames) s.add(kPrefix + n, w.get(n, DType::F32).clone());
  Mamba2Layer layer(c, s, kPrefix);
  Tensor x = test::param(ref.get("x", DType::F32).clone());
  Mamba2Output out = layer.forward(x);
  EXPECT_TRUE(test::all_close(out.y, ref.get("y", DType::F32), 1e-5, 1e-3));
  EXPECT_TRUE(test::all_close(out.state.ssm_state, ref.get("ssm_state", DType::F32), 1e-5, 1e-3));
  out.y.backward(ref.get("grad_y", DType::F32));
  EXPECT_TRUE(test::all_close(x.grad(), ref.get("grad.x", DType::F32), 1e-4, 1e-3));
  for (auto& n : kNames)
    EXPECT_TRUE(test::all_close(s.get(kPrefix + n).grad(), ref.get("grad." + n, DType::F32), 1e-4, 1e-3)) << n;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Mamba2Parity, ::testing::Values("standard", "upcycled"));
