// The MLA layer: the training forward against a plain double-precision implementation, the absorbed
// decode against the training forward at every position, gradients of the input and every
// parameter, cache accounting, errors, and parity with PyTorch fixtures (DeepSeek-V3 in
// transformers and the Zebra variant) from tools/fixtures/make_mla_fixtures.py.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/mla.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Variant {
  int64_t heads, kv_heads, q_lora;
  bool interleaved, yarn, lora_norm;
};

std::string describe(const Variant& v) {
  return str("H", v.heads, "_g", v.kv_heads, "_rq", v.q_lora, v.interleaved ? "_interleaved" : "_halfsplit",
             v.yarn ? "_yarn" : "", v.lora_norm ? "_norm" : "");
}

// Odd sizes everywhere but the rotated part, which must be even.
MlaConfig make_config(const Variant& v, int64_t d = 13, int64_t r_kv = 5, int64_t d_rope = 4, int64_t d_nope = 3,
                      int64_t d_v = 5) {
  MlaConfig c;
  c.d_model = d;
  c.n_heads = v.heads;
  c.kv_heads = v.kv_heads;
  c.q_lora_rank = v.q_lora;
  c.kv_lora_rank = r_kv;
  c.qk_rope_dim = d_rope;
  c.qk_nope_dim = d_nope;
  c.v_head_dim = d_v;
  c.use_lora_norm = v.lora_norm;
  c.rope.dim = d_rope;
  c.rope.theta = 10000;
  c.rope.interleaved = v.interleaved;
  if (v.yarn) {
    // Small original context so the correction ramp splits these few frequencies.
    c.rope.scaling.type = RopeScaling::Type::Yarn;
    c.rope.scaling.factor = 4;
    c.rope.scaling.original_max_position = 16;
  }
  return c;
}

// Every parameter random, norms around 1, so each one matters.
ParamStore random_params(const MlaLayer& layer, uint64_t seed, double stddev = 0.3) {
  ParamStore ps;
  layer.add_parameters(ps, seed, stddev);
  uint64_t s = seed * 7919;
  for (auto& [name, t] : ps.items())
    if (name.find("layernorm") != std::string::npos) t.detach().copy_(Tensor::uniform(t.shape(), ++s, 0.6, 1.4));
  return ps;
}

// y[n, o] = sum_i x[n, i] w[o, i]
std::vector<double> lin(const std::vector<double>& x, const std::vector<double>& w, int64_t n, int64_t in, int64_t out) {
  std::vector<double> y(size_t(n * out), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += x[size_t(r * in + i)] * w[size_t(o * in + i)];
      y[size_t(r * out + o)] = s;
    }
  return y;
}

void rms_rows(std::vector<double>& x, const std::vector<double>& w, int64_t n, int64_t dim, double eps) {
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += x[size_t(r * dim + i)] * x[size_t(r * dim + i)];
    const double inv = 1.0 / std::sqrt(ss / double(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) x[size_t(r * dim + i)] *= inv * w[size_t(i)];
  }
}

// Rotates v[0..dim) in place as token position p.
void rope_vec(double* v, const RopeConfig& rc, int64_t p) {
  const std::vector<double> inv = rope_inv_freq(rc);
  const double af = rope_attention_factor(rc);
  const int64_t half = rc.dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t a = rc.interleaved ? 2 * i : i, b = rc.interleaved ? 2 * i + 1 : i + half;
    const double cs = std::cos(double(p) * inv[size_t(i)]) * af, sn = std::sin(double(p) * inv[size_t(i)]) * af;
    const double xa = v[a], xb = v[b];
    v[a] = xa * cs - xb * sn;
    v[b] = xb * cs + xa * sn;
  }
}

// The whole layer in double with explicit loops. x: [B, T, d] -> [B, T, d].
std::vector<double> reference(const MlaConfig& c, const MlaLayer& layer, const ParamStore& ps, const Tensor& x,
                              int64_t pos) {
  const int64_t B = x.size(0), T = x.size(1), d = c.d_model, H = c.n_heads, g = c.kv_heads, dn = c.qk_nope_dim,
                dr = c.qk_rope_dim, dv = c.v_head_dim, r = c.kv_lora_rank, qk = dn + dr, N = B * T;
  auto P = [&](const std::string& n) { return ps.get(layer.prefix() + n).to_double(); };
  const std::vector<double> xs = x.to_double();
  std::vector<double> q;
  if (c.q_lora_rank > 0) {
    std::vector<double> qa = lin(xs, P("q_a_proj.weight"), N, d, c.q_lora_rank);
    if (c.use_lora_norm) rms_rows(qa, P("q_a_layernorm.weight"), N, c.q_lora_rank, c.norm_eps);
    q = lin(qa, P("q_b_proj.weight"), N, c.q_lora_rank, H * qk);
  } else {
    q = lin(xs, P("q_proj.weight"), N, d, H * qk);
  }
  std::vector<double> kva = lin(xs, P("kv_a_proj_with_mqa.weight"), N, d, r + dr);
  std::vector<double> lat(size_t(N * r));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < r; ++i) lat[size_t(n * r + i)] = kva[size_t(n * (r + dr) + i)];
    rope_vec(&kva[size_t(n * (r + dr) + r)], c.rope, pos + n % T);
    for (int64_t h = 0; h < H; ++h) rope_vec(&q[size_t(n * H * qk + h * qk + dn)], c.rope, pos + n % T);
  }
  if (c.use_lora_norm) rms_rows(lat, P("kv_a_layernorm.weight"), N, r, c.norm_eps);
  std::vector<double> kvb = lin(lat, P("kv_b_proj.weight"), N, r, g * (dn + dv));
  std::vector<double> o(size_t(N * H * dv), 0.0);
  const double scale = c.scale();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t gi = h / (H / g);
      for (int64_t t = 0; t < T; ++t) {
        const double* qv = &q[size_t((b * T + t) * H * qk + h * qk)];
        std::vector<double> s(size_t(t + 1));
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          const double* kn = &kvb[size_t((b * T + j) * g * (dn + dv) + gi * (dn + dv))];
          const double* kr = &kva[size_t((b * T + j) * (r + dr) + r)];
          double dot = 0;
          for (int64_t i = 0; i < dn; ++i) dot += qv[i] * kn[i];
          for (int64_t i = 0; i < dr; ++i) dot += qv[dn + i] * kr[i];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j) {
          const double* vv = &kvb[size_t((b * T + j) * g * (dn + dv) + gi * (dn + dv) + dn)];
          for (int64_t i = 0; i < dv; ++i) o[size_t((b * T + t) * H * dv + h * dv + i)] += s[size_t(j)] / z * vv[i];
        }
      }
    }
  return lin(o, ps.get(layer.out_proj_name()).to_double(), N, H * dv, d);
}

const Variant kVariants[] = {
    {6, 3, 7, true, true, false},   {6, 3, 7, false, false, false}, {6, 6, 7, true, false, false},
    {6, 6, 0, false, true, false},  {6, 2, 0, true, true, false},   {6, 3, 7, false, true, true},
    {6, 6, 0, true, false, true},   {6, 3, 0, false, false, false}, {6, 6, 7, false, true, false},
    {6, 2, 7, true, false, true},
};

}  // namespace

class MlaVariants : public ::testing::TestWithParam<Variant> {};

TEST_P(MlaVariants, ForwardMatchesDoubleReference) {
  const Variant v = GetParam();
  MlaConfig c = make_config(v);
  MlaLayer layer(c, "model.layers.3.mla.");
  ParamStore ps = random_params(layer, 11);
  Tensor x = randn({2, 7, c.d_model}, 5);
  for (int64_t pos : {0, 3}) {
    std::vector<double> want = reference(c, layer, ps, x, pos);
    EXPECT_TRUE(all_close(layer.forward(ps, x, pos), want, 2e-5, 2e-4)) << describe(v) << " pos " << pos;
    EXPECT_TRUE(all_close(layer.forward(ps, noncontig(x), pos), want, 2e-5, 2e-4)) << describe(v) << " noncontig";
  }
}

TEST_P(MlaVariants, AbsorbedDecodeMatchesForwardAtEveryPosition) {
  const Variant v = GetParam();
  MlaConfig c = make_config(v);
  MlaLayer layer(c, "");
  ParamStore ps = random_params(layer, 23);
  const int64_t B = 2, T = 13, prefill = 5;
  Tensor x = randn({B, T, c.d_model}, 9);
  NoGrad ng;
  Tensor full = layer.forward(ps, x);
  MlaCache cache = layer.make_cache(B, T + 3);
  Tensor got = layer.step(ps, slice(x, 1, 0, prefill), cache);
  EXPECT_EQ(cache.length, prefill);
  EXPECT_TRUE(all_close(got, slice(full, 1, 0, prefill).contiguous(), 1e-5, 1e-4)) << describe(v) << " prefill";
  for (int64_t t = prefill; t < T; ++t) {
    got = layer.step(ps, slice(x, 1, t, t + 1), cache);
    EXPECT_TRUE(all_close(got, slice(full, 1, t, t + 1).contiguous(), 1e-5, 1e-4)) << describe(v) << " token " << t;
  }
  EXPECT_EQ(cache.length, T);
}

INSTANTIATE_TEST_SUITE_P(Configs, MlaVariants, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& i) { return describe(i.param); });

// Long enough to cross the attention kernel's key and query blocks in both paths; step is untracked
// even with trainable parameters and grad mode on.
TEST(Mla, LongAbsorbedDecodeIsUntrackedAndMatches) {
  MlaConfig c = make_config({6, 2, 7, true, true, true});
  MlaLayer layer(c, "");
  ParamStore ps = random_params(layer, 31);
  const int64_t T = 150, prefill = 70;
  Tensor x = randn({1, T, c.d_model}, 12);
  Tensor full = layer.forward(ps, x).detach();
  MlaCache cache = layer.make_cache(1, T);
  Tensor got = layer.step(ps, slice(x, 1, 0, prefill), cache);
  EXPECT_FALSE(got.requires_grad());
  EXPECT_TRUE(all_close(got, slice(full, 1, 0, prefill).contiguous(), 1e-5, 1e-4));
  for (int64_t t = prefill; t < T; ++t)
    EXPECT_TRUE(all_close(layer.step(ps, slice(x, 1, t, t + 1), cache), slice(full, 1, t, t + 1).contiguous(), 1e-5,
                          1e-4))
        << "token " << t;
}

TEST(Mla, CacheHoldsRotatedKeysAndLatentsOfTheTrainingPath) {
  MlaConfig c = make_config({4, 2, 0, true, true, true});
  MlaLayer layer(c, "p.");
  ParamStore ps = random_params(layer, 3);
  Tensor x = randn({1, 4, c.d_model}, 4);
  NoGrad ng;
  MlaCache cache = layer.make_cache(1, 6);
  layer.step(ps, x, cache);
  Tensor kva = linear(x, ps.get("p.kv_a_proj_with_mqa.weight"));  // [1, 4, r + dr]
  std::vector<Tensor> parts = split(kva, {c.kv_lora_rank, c.qk_rope_dim}, 2);
  Tensor want_c = rms_norm(parts[0], ps.get("p.kv_a_layernorm.weight"), c.norm_eps);
  Tensor want_k = reshape(rope(unsqueeze(parts[1], 2), c.rope), {1, 4, c.qk_rope_dim});
  EXPECT_TRUE(all_close(slice(cache.c, 1, 0, 4).contiguous(), want_c.contiguous()));
  EXPECT_TRUE(all_close(slice(cache.k_rope, 1, 0, 4).contiguous(), want_k.contiguous()));
  // Positions not yet written stay zero.
  for (double e : slice(cache.buffer, 1, 4, 6).contiguous().to_double()) EXPECT_EQ(e, 0.0);
}

TEST(Mla, CacheBytesAreLatentPlusRopePerToken) {
  MlaConfig c = make_config({6, 3, 7, true, false, false});
  MlaLayer layer(c, "");
  MlaCache cache = layer.make_cache(3, 10);
  EXPECT_EQ(cache.bytes(), int64_t(3 * 10 * (5 + 4) * 4));
  EXPECT_EQ(cache.bytes(), c.cache_bytes_per_token() * 3 * 10);
  EXPECT_EQ(cache.c.shape(), (Shape{3, 10, 5}));
  EXPECT_EQ(cache.k_rope.shape(), (Shape{3, 10, 4}));
}

TEST(Mla, ParameterNamesAndShapes) {
  MlaConfig c = make_config({6, 3, 7, true, false, true});
  auto shapes = MlaLayer(c, "model.layers.0.mla.").parameter_shapes();
  std::map<std::string, Shape> got(shapes.begin(), shapes.end());
  EXPECT_EQ(shapes.size(), 7u);
  EXPECT_EQ(got.at("model.layers.0.mla.q_a_proj.weight"), (Shape{7, 13}));
  EXPECT_EQ(got.at("model.layers.0.mla.q_a_layernorm.weight"), (Shape{7}));
  EXPECT_EQ(got.at("model.layers.0.mla.q_b_proj.weight"), (Shape{6 * 7, 7}));
  EXPECT_EQ(got.at("model.layers.0.mla.kv_a_proj_with_mqa.weight"), (Shape{9, 13}));
  EXPECT_EQ(got.at("model.layers.0.mla.kv_a_layernorm.weight"), (Shape{5}));
  EXPECT_EQ(got.at("model.layers.0.mla.kv_b_proj.weight"), (Shape{3 * 8, 5}));
  EXPECT_EQ(got.at("model.layers.0.mla.out_proj.weight"), (Shape{13, 30}));
  c.q_lora_rank = 0;
  c.use_lora_norm = false;
  c.naming = MlaNaming::DeepSeek;
  auto plain = MlaLayer(c, "").parameter_shapes();
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[0].first, "q_proj.weight");
  EXPECT_EQ(plain[0].second, (Shape{42, 13}));
  EXPECT_EQ(plain[3].first, "o_proj.weight");
}

TEST(Mla, SoftmaxScaleAndMscale) {
  MlaConfig c = make_config({4, 2, 0, true, true, false});
  EXPECT_DOUBLE_EQ(c.scale(), 1.0 / std::sqrt(7.0));
  c.mscale_all_dim = 0.707;
  const double m = 0.1 * 0.707 * std::log(4.0) + 1.0;
  EXPECT_DOUBLE_EQ(c.scale(), m * m / std::sqrt(7.0));
  c.softmax_scale = 0.25;
  EXPECT_DOUBLE_EQ(c.scale(), 0.25 * m * m);
}

TEST(Mla, GradientsOfInputAndEveryParameter) {
  for (Variant v : {Variant{4, 2, 3, true, true, true}, Variant{4, 4, 0, false, false, false},
                    Variant{4, 1, 3, false, true, false}}) {
    MlaConfig c = make_config(v, 5, 3, 2, 2, 3);
    MlaLayer layer(c, "l.");
    ParamStore init = random_params(layer, 41, 0.5);
    std::vector<std::string> names;
    std::vector<Tensor> inputs{param(randn({2, 3, c.d_model}, 8))};
    for (auto& [name, t] : init.items()) names.push_back(name), inputs.push_back(t);
    auto f = [&](const std::vector<Tensor>& in) {
      ParamStore ps;
      for (size_t i = 0; i < names.size(); ++i) ps.add(names[i], in[i + 1]);
      return layer.forward(ps, in[0], 2);
    };
    auto r = gradcheck(f, inputs);
    EXPECT_TRUE(r.ok) << describe(v) << ": " << r.message;
    EXPECT_GE(r.checked, int64_t(inputs.size()));
  }
}

TEST(Mla, ConfigErrors) {
  const MlaConfig good = make_config({6, 3, 7, true, true, false});
  MlaConfig c = good;
  c.kv_heads = 4;
  EXPECT_ERROR(MlaLayer(c, ""), "must be a positive multiple of kv_heads (4)");
  c = good;
  c.rope.dim = 6;
  EXPECT_ERROR(MlaLayer(c, ""), "rope.dim (6) must equal qk_rope_dim (4)");
  c = good;
  c.qk_rope_dim = c.rope.dim = 3;
  EXPECT_ERROR(MlaLayer(c, ""), "qk_rope_dim must be positive and even");
  c = good;
  c.kv_lora_rank = 0;
  EXPECT_ERROR(MlaLayer(c, ""), "kv_lora_rank must be positive");
  c = good;
  c.q_lora_rank = -1;
  EXPECT_ERROR(MlaLayer(c, ""), "q_lora_rank must be >= 0");
  c = good;
  c.qk_nope_dim = -1;
  EXPECT_ERROR(MlaLayer(c, ""), "qk_nope_dim must be >= 0");
  c = good;
  c.v_head_dim = 0;
  EXPECT_ERROR(MlaLayer(c, ""), "v_head_dim must be positive");
  c = good;
  c.d_model = 0;
  EXPECT_ERROR(MlaLayer(c, ""), "d_model must be positive");
  c = good;
  c.norm_eps = 0;
  EXPECT_ERROR(MlaLayer(c, ""), "norm_eps must be positive");
  c = good;
  c.softmax_scale = -1;
  EXPECT_ERROR(MlaLayer(c, ""), "softmax_scale must be >= 0");
  c = make_config({6, 3, 7, true, false, false});
  c.mscale_all_dim = 1;
  EXPECT_ERROR(MlaLayer(c, ""), "needs yarn rope scaling");
  c = good;
  c.rope.scaling.factor = 0.5;
  EXPECT_ERROR(MlaLayer(c, ""), "scaling factor must be >= 1");
}

TEST(Mla, ShapeAndParameterErrors) {
  MlaConfig c = make_config({6, 3, 7, true, true, false});
  MlaLayer layer(c, "m.");
  ParamStore ps = random_params(layer, 1);
  EXPECT_ERROR(layer.forward(ps, randn({7, c.d_model}, 1)), "mla forward: argument 'x' must have rank 3");
  EXPECT_ERROR(layer.forward(ps, randn({1, 7, 12}, 1)), "mla forward: last axis of x f32[1, 7, 12] cpu must be d_model 13");
  EXPECT_ERROR(layer.forward(ps, randn({1, 0, 13}, 1)), "has no tokens");
  EXPECT_ERROR(layer.forward(ps, randn({1, 2, 13}, 1), -1), "pos_offset must be >= 0");
  EXPECT_ERROR(layer.forward(ParamStore(), randn({1, 2, 13}, 1)), "no parameter 'm.q_a_proj.weight'");
  ParamStore bad;
  for (auto& [name, t] : ps.items())
    bad.add(name, name == "m.kv_b_proj.weight" ? randn({24, 6}, 2) : t.detach());
  EXPECT_ERROR(layer.forward(bad, randn({1, 2, 13}, 1)),
               "mla: parameter 'm.kv_b_proj.weight' is f32[24, 6] cpu, expected shape [24, 5]");

  NoGrad ng;
  MlaCache cache = layer.make_cache(2, 4);
  EXPECT_ERROR(layer.step(ps, randn({1, 2, 13}, 1), cache), "batch does not match the cache's 2");
  EXPECT_ERROR(layer.step(ps, randn({2, 2, 12}, 1), cache), "mla step: last axis of x");
  layer.step(ps, randn({2, 3, 13}, 1), cache);
  EXPECT_ERROR(layer.step(ps, randn({2, 2, 13}, 1), cache), "2 more tokens overflow the cache (3 of 4 positions used)");
  EXPECT_EQ(cache.length, 3);
  MlaConfig other = c;
  other.kv_lora_rank = 6;
  MlaCache wrong = MlaLayer(other, "m.").make_cache(2, 4);
  EXPECT_ERROR(layer.step(ps, randn({2, 1, 13}, 1), wrong), "the cache does not fit this layer");
  EXPECT_ERROR(layer.make_cache(0, 4), "batch and capacity must be positive");
}

// ---- parity with PyTorch (tools/fixtures/make_mla_fixtures.py) ----

namespace {

const char* kFixtures[] = {"deepseek_v3_qlora", "deepseek_v3_no_qlora", "zebra_gqa", "zebra_mha_no_qlora"};

MlaConfig config_from_json(const json& j) {
  MlaConfig c;
  c.d_model = j.at("d_model");
  c.n_heads = j.at("n_heads");
  c.kv_heads = j.at("kv_heads");
  c.q_lora_rank = j.at("q_lora_rank");
  c.kv_lora_rank = j.at("kv_lora_rank");
  c.qk_rope_dim = j.at("qk_rope_dim");
  c.qk_nope_dim = j.at("qk_nope_dim");
  c.v_head_dim = j.at("v_head_dim");
  c.use_lora_norm = j.at("use_lora_norm");
  c.norm_eps = j.at("norm_eps");
  c.mscale_all_dim = j.at("mscale_all_dim");
  c.naming = j.at("naming") == "deepseek" ? MlaNaming::DeepSeek : MlaNaming::Zebra;
  c.rope.dim = c.qk_rope_dim;
  c.rope.theta = j.at("rope_theta");
  c.rope.interleaved = j.at("rope_interleaved");
  const json& s = j.at("rope_scaling");
  if (s.at("type") == "yarn") {
    c.rope.scaling.type = RopeScaling::Type::Yarn;
    c.rope.scaling.factor = s.at("factor");
    c.rope.scaling.original_max_position = s.at("original_max_position_embeddings");
    c.rope.scaling.beta_fast = s.at("beta_fast");
    c.rope.scaling.beta_slow = s.at("beta_slow");
    c.rope.scaling.attention_factor = s.at("attention_factor");
  }
  return c;
}

}  // namespace

class MlaParity : public ::testing::TestWithParam<const char*> {};

TEST_P(MlaParity, OutputsAndGradientsMatchPyTorch) {
  const fs::path dir = fs::path(ZEBRA_SOURCE_DIR) / "tests" / "fixtures" / "mla" / GetParam();
  if (!fs::exists(dir / "io.safetensors"))
    GTEST_SKIP() << "no fixture at " << dir << ": run tools/fixtures/make_mla_fixtures.py tests/fixtures/mla "
                 << "where PyTorch and transformers are installed";
  std::ifstream f(dir / "config.json");
  MlaLayer layer(config_from_json(json::parse(f)), "");
  SafetensorsFile wf = SafetensorsFile::open((dir / "weights.safetensors").string());
  SafetensorsFile io = SafetensorsFile::open((dir / "io.safetensors").string());
  ParamStore ps;
  for (auto& [name, shape] : layer.parameter_shapes()) ps.add(name, wf.get(name, DType::F32).clone());
  Tensor x = param(io.get("x", DType::F32).clone());
  Tensor want = io.get("out", DType::F32);
  Tensor out = layer.forward(ps, x);
  EXPECT_TRUE(all_close(out, want, 1e-5, 1e-3)) << GetParam() << " output";
  out.backward(io.get("grad_output", DType::F32));
  EXPECT_TRUE(all_close(x.grad(), io.get("grad_x", DType::F32), 1e-5, 1e-3)) << GetParam() << " grad x";
  for (auto& [name, t] : ps.items())
    EXPECT_TRUE(all_close(t.grad(), io.get("grad." + name, DType::F32), 1e-5, 1e-3)) << GetParam() << " grad " << name;

  NoGrad ng;
  MlaCache cache = layer.make_cache(x.size(0), x.size(1));
  for (int64_t t = 0; t < x.size(1); ++t)
    EXPECT_TRUE(all_close(layer.step(ps, slice(x.detach(), 1, t, t + 1), cache), slice(want, 1, t, t + 1).contiguous(),
                          1e-5, 1e-3))
        << GetParam() << " absorbed decode, token " << t;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MlaParity, ::testing::ValuesIn(kFixtures));
