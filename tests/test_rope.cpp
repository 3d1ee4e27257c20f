#include <cmath>

#include "autograd/node.h"
#include "ops/rope.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using test::all_close;
using test::noncontig;
using test::param;
using test::randn;

constexpr double kPi = 3.14159265358979323846;

RopeConfig llama32_1b() {
  RopeConfig cfg;
  cfg.dim = 64;
  cfg.theta = 500000.0;
  cfg.scaling.type = RopeScaling::Type::Llama3;
  cfg.scaling.factor = 32.0;
  cfg.scaling.low_freq_factor = 1.0;
  cfg.scaling.high_freq_factor = 4.0;
  cfg.scaling.original_max_position = 8192;
  return cfg;
}

// Zebra's MLA layers (RECIPE.md): YaRN factor 32, original 8192, betas 32/1, rope head dim 32, interleaved.
RopeConfig mla_yarn() {
  RopeConfig cfg;
  cfg.dim = 32;
  cfg.theta = 500000.0;
  cfg.scaling.type = RopeScaling::Type::Yarn;
  cfg.scaling.factor = 32.0;
  cfg.scaling.original_max_position = 8192;
  cfg.scaling.beta_fast = 32.0;
  cfg.scaling.beta_slow = 1.0;
  cfg.interleaved = true;
  return cfg;
}

// Reference rotation in double: out = af * R(pos * inv_freq) x per pair, or its transpose.
std::vector<double> ref_rope(const std::vector<double>& x, const Shape& s, const std::vector<double>& inv_freq,
                             double af, bool interleaved, int64_t pos_offset, bool transpose = false) {
  const int64_t B = s[0], T = s[1], H = s[2], dim = s[3], half = dim / 2;
  std::vector<double> out(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const size_t base = size_t(((b * T + t) * H + h) * dim);
        for (int64_t i = 0; i < half; ++i) {
          const double a = double(pos_offset + t) * inv_freq[size_t(i)];
          const double c = std::cos(a) * af, sn = (transpose ? -1.0 : 1.0) * std::sin(a) * af;
          const size_t i0 = base + size_t(interleaved ? 2 * i : i);
          const size_t i1 = base + size_t(interleaved ? 2 * i + 1 : i + half);
          out[i0] = x[i0] * c - x[i1] * sn;
          out[i1] = x[i1] * c + x[i0] * sn;
        }
      }
  return out;
}

TEST(RopeInvFreq, Unscaled) {
  RopeConfig cfg;
  cfg.dim = 10;
  cfg.theta = 10000.0;
  std::vector<double> f = rope_inv_freq(cfg);
  ASSERT_EQ(f.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(f[i], 1.0 / std::pow(10000.0, double(2 * i) / 10.0), 1e-15);
  EXPECT_EQ(rope_attention_factor(cfg), 1.0);
}

// Llama-3.2-1B's real rope config, against an independent transcription of Meta's apply_scaling.
TEST(RopeInvFreq, Llama32OneB) {
  std::vector<double> f = rope_inv_freq(llama32_1b());
  ASSERT_EQ(f.size(), 32u);
  int kept = 0, divided = 0, smoothed = 0;
  for (int i = 0; i < 32; ++i) {
    const double freq = std::exp(-std::log(500000.0) * (2.0 * i) / 64.0);
    const double wavelen = 2.0 * kPi / freq;
    double want;
    if (wavelen < 8192.0 / 4.0) {
      want = freq, ++kept;
    } else if (wavelen > 8192.0 / 1.0) {
      want = freq / 32.0, ++divided;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1.0 - smooth) * freq / 32.0 + smooth * freq, ++smoothed;
      EXPECT_GT(want, freq / 32.0);
      EXPECT_LT(want, freq);
    }
    EXPECT_NEAR(f[size_t(i)], want, 1e-12 * want) << "i " << i;
  }
  EXPECT_EQ(kept, 15);
  EXPECT_EQ(smoothed, 3);
  EXPECT_EQ(divided, 14);
  // Literal values from a third (Python) evaluation of the same formula.
  EXPECT_NEAR(f[0], 1.0, 1e-15);
  EXPECT_NEAR(f[14], 0.0032114459947525913, 1e-16);
  EXPECT_NEAR(f[15], 0.001290547928209264, 1e-16);
  EXPECT_NEAR(f[16], 0.00042955679655936815, 1e-17);
  EXPECT_NEAR(f[17], 9.70828780262767e-05, 1e-18);
  EXPECT_NEAR(f[18], 1.9461638184831125e-05, 1e-19);
  EXPECT_NEAR(f[31], 9.418306725434909e-08, 1e-21);
  EXPECT_EQ(rope_attention_factor(llama32_1b()), 1.0);
}

// RECIPE.md: correction range dims 4..9 for head rope dim 32, theta 500000; cos/sin times 1.3466.
TEST(RopeInvFreq, YarnMlaConfig) {
  RopeConfig cfg = mla_yarn();
  auto correction_dim = [](double rotations) {
    return 32.0 * std::log(8192.0 / (rotations * 2.0 * kPi)) / (2.0 * std::log(500000.0));
  };
  EXPECT_EQ(std::floor(correction_dim(32.0)), 4.0);
  EXPECT_EQ(std::ceil(correction_dim(1.0)), 9.0);
  std::vector<double> f = rope_inv_freq(cfg);
  ASSERT_EQ(f.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    const double base = std::pow(500000.0, -2.0 * i / 32.0);
    const double ramp = i <= 4 ? 0.0 : i >= 9 ? 1.0 : (i - 4) / 5.0;  // 0: extrapolate, 1: interpolate
    const double want = base * (1.0 - ramp) + base / 32.0 * ramp;
    EXPECT_NEAR(f[size_t(i)], want, 1e-12 * want) << "i " << i;
  }
  EXPECT_NEAR(f[4], std::pow(500000.0, -8.0 / 32.0), 1e-15);          // last dim kept as is
  EXPECT_NEAR(f[9], std::pow(500000.0, -18.0 / 32.0) / 32.0, 1e-15);  // first dim fully interpolated
  EXPECT_NEAR(rope_attention_factor(cfg), 1.3466, 5e-5);
  EXPECT_NEAR(rope_attention_factor(cfg), 0.1 * std::log(32.0) + 1.0, 1e-15);
  cfg.scaling.attention_factor = 0.75;
  EXPECT_EQ(rope_attention_factor(cfg), 0.75);
  cfg.scaling.attention_factor = 0.0;
  cfg.scaling.factor = 1.0;
  EXPECT_EQ(rope_attention_factor(cfg), 1.0);
}

std::vector<RopeConfig> forward_configs(int64_t dim) {
  std::vector<RopeConfig> cfgs;
  for (bool inter : {false, true}) {
    RopeConfig plain;
    plain.dim = dim;
    plain.interleaved = inter;
    RopeConfig l3 = llama32_1b();
    l3.dim = dim;
    l3.interleaved = inter;
    RopeConfig yarn = mla_yarn();
    yarn.dim = dim;
    yarn.scaling.factor = 8.0;
    yarn.scaling.original_max_position = 64;
    yarn.interleaved = inter;
    cfgs.insert(cfgs.end(), {plain, l3, yarn});
  }
  return cfgs;
}

TEST(Rope, ForwardMatchesReference) {
  for (int64_t dim : {10, 66}) {
    for (const RopeConfig& cfg : forward_configs(dim)) {
      for (int64_t off : {int64_t(0), int64_t(1000)}) {
        const Shape s{2, 7, 3, dim};
        Tensor x = randn(s, 50);
        Tensor y = rope(x, cfg, off);
        ASSERT_EQ(y.shape(), s);
        std::vector<double> want =
            ref_rope(x.to_double(), s, rope_inv_freq(cfg), rope_attention_factor(cfg), cfg.interleaved, off);
        EXPECT_TRUE(all_close(y, want, 2e-5, 1e-4))
            << "dim " << dim << " type " << int(cfg.scaling.type) << " interleaved " << cfg.interleaved << " offset "
            << off;
      }
    }
  }
}

TEST(Rope, NonContiguousInputs) {
  RopeConfig cfg = mla_yarn();
  const Shape s{2, 7, 3, 32};
  Tensor x = randn(s, 51);
  std::vector<double> want = ref_rope(x.to_double(), s, rope_inv_freq(cfg), rope_attention_factor(cfg), true, 5);
  EXPECT_TRUE(all_close(rope(noncontig(x), cfg, 5), want, 2e-5, 1e-4));
  // A [B, H, T, dim] buffer read as [B, T, H, dim], as attention code produces after a transpose.
  Tensor bhtd = Tensor::zeros({2, 3, 7, 32});
  Tensor view = bhtd.as_strided(s, {3 * 7 * 32, 32, 7 * 32, 1}, 0);
  view.copy_(x);
  EXPECT_TRUE(all_close(rope(view, cfg, 5), want, 2e-5, 1e-4));
}

TEST(Rope, OffsetMatchesLaterRowsOfLongerSequence) {
  for (const RopeConfig& cfg : forward_configs(10)) {
    const int64_t k = 4;
    Tensor full = randn({2, 9, 3, 10}, 52);
    Tensor tail = full.as_strided({2, 9 - k, 3, 10}, full.strides(), k * 3 * 10);
    std::vector<double> whole = rope(full, cfg).to_double();
    std::vector<double> want;
    for (int64_t b = 0; b < 2; ++b)
      want.insert(want.end(), whole.begin() + b * 9 * 30 + k * 30, whole.begin() + (b + 1) * 9 * 30);
    EXPECT_TRUE(all_close(rope(tail, cfg, k), want, 0.0, 0.0));
  }
}

TEST(Rope, Gradcheck) {
  for (const RopeConfig& base : {llama32_1b(), mla_yarn()}) {
    for (bool inter : {false, true}) {
      RopeConfig cfg = base;
      cfg.dim = 6;
      cfg.interleaved = inter;
      auto f = [cfg](const std::vector<Tensor>& in) { return rope(in[0], cfg, 3); };
      SCOPED_TRACE(str("type ", int(cfg.scaling.type), " interleaved ", inter));
      EXPECT_GRADCHECK(f, std::vector<Tensor>({param(randn({2, 3, 2, 6}, 53))}));
    }
  }
}

// The backward kernel is the transposed rotation (with the attention factor), on sizes gradcheck skips
// and long enough to run on several threads.
TEST(Rope, BackwardMatchesReference) {
  for (const RopeConfig& cfg : forward_configs(66)) {
    const Shape s{2, 131, 3, 66};
    Tensor x = param(randn(s, 54));
    Tensor g = randn(s, 55);
    Tensor y = rope(x, cfg, 11);
    std::vector<double> fwd =
        ref_rope(x.to_double(), s, rope_inv_freq(cfg), rope_attention_factor(cfg), cfg.interleaved, 11);
    EXPECT_TRUE(all_close(y, fwd, 2e-5, 1e-4)) << "type " << int(cfg.scaling.type);
    y.backward(noncontig(g));
    std::vector<double> want =
        ref_rope(g.to_double(), s, rope_inv_freq(cfg), rope_attention_factor(cfg), cfg.interleaved, 11, true);
    EXPECT_TRUE(all_close(x.grad(), want, 2e-5, 1e-4)) << "type " << int(cfg.scaling.type);
  }
}

TEST(Rope, Errors) {
  RopeConfig cfg;
  cfg.dim = 8;
  Tensor x = randn({1, 2, 3, 8}, 56);
  RopeConfig odd = cfg;
  odd.dim = 7;
  EXPECT_ERROR(rope(randn({1, 2, 3, 7}, 57), odd), "even");
  EXPECT_ERROR(rope(randn({1, 2, 3, 6}, 58), cfg), "must equal the rotated dim 8");
  EXPECT_ERROR(rope(randn({2, 3, 8}, 59), cfg), "'x' must have rank 4");
  RopeConfig bad_theta = cfg;
  bad_theta.theta = 0.0;
  EXPECT_ERROR(rope(x, bad_theta), "theta must be > 0");
  RopeConfig small = llama32_1b();
  small.dim = 8;
  small.scaling.factor = 0.5;
  EXPECT_ERROR(rope(x, small), "factor must be >= 1");
  small.scaling.type = RopeScaling::Type::Yarn;
  EXPECT_ERROR(rope(x, small), "factor must be >= 1");
  EXPECT_ERROR(rope_inv_freq(small), "rope_inv_freq: scaling factor");
  RopeConfig bands = llama32_1b();
  bands.scaling.high_freq_factor = 1.0;
  EXPECT_ERROR(rope_inv_freq(bands), "low_freq_factor < high_freq_factor");
  EXPECT_ERROR(rope(x, cfg, -1), "pos_offset must be >= 0");
  EXPECT_ERROR(rope(Tensor::zeros({1, 2, 3, 8}, DType::I32), cfg), "'x' must be f32");
  EXPECT_ERROR(rope(Tensor(), cfg), "undefined");
}

}  // namespace
}  // namespace zebra
