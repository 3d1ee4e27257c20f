// Core engine: dtypes and half-precision conversions, shapes, Tensor primitives, devices, the
// allocator's counters, Philox/Rng, and the thread pool.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/rng.h"
#include "core/threadpool.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

const DType kAllDTypes[] = {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U8, DType::F64};

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---------------------------------------------------------------- dtypes

TEST(DType, SizesAndNames) {
  const std::pair<DType, std::pair<size_t, const char*>> want[] = {
      {DType::F32, {4, "f32"}}, {DType::BF16, {2, "bf16"}}, {DType::F16, {2, "f16"}}, {DType::I32, {4, "i32"}},
      {DType::I64, {8, "i64"}}, {DType::U8, {1, "u8"}},     {DType::F64, {8, "f64"}}};
  for (auto& [t, sn] : want) {
    EXPECT_EQ(dtype_size(t), sn.first) << sn.second;
    EXPECT_STREQ(dtype_name(t), sn.second);
    EXPECT_EQ(dtype_from_name(sn.second), t);
  }
  EXPECT_EQ(dtype_from_name("bfloat16"), DType::BF16);
  EXPECT_EQ(dtype_from_name("float16"), DType::F16);
  EXPECT_EQ(dtype_from_name("F32"), DType::F32);  // safetensors spelling
  EXPECT_EQ(dtype_from_name("int64"), DType::I64);
  EXPECT_TRUE(is_floating(DType::BF16));
  EXPECT_TRUE(is_floating(DType::F64));
  EXPECT_FALSE(is_floating(DType::I32));
  EXPECT_FALSE(is_floating(DType::U8));
}

TEST(DType, ParseErrors) {
  EXPECT_ERROR(dtype_from_name("q8"), "unknown dtype 'q8'");
  EXPECT_ERROR(dtype_from_name(""), "unknown dtype");
  EXPECT_ERROR(dtype_from_name("f32 "), "unknown dtype");
}

struct Pair {
  float f;
  uint16_t bits;
};

// f32 -> half rounding: every entry must give exactly these bits.
void expect_narrowing(uint16_t (*narrow)(float), std::initializer_list<Pair> table) {
  for (const Pair& p : table) EXPECT_EQ(narrow(p.f), p.bits) << std::hex << bits_of(p.f);
}
// half -> f32 widening is exact: compare the f32 bits (so -0 and inf count).
void expect_widening(float (*widen)(uint16_t), std::initializer_list<Pair> table) {
  for (const Pair& p : table) EXPECT_EQ(bits_of(widen(p.bits)), bits_of(p.f)) << std::hex << p.bits;
}

TEST(DType, Bf16KnownBits) {
  const float big = std::numeric_limits<float>::max();
  expect_narrowing(f32_to_bf16, {
      {1.0f, 0x3f80}, {-2.0f, 0xc000},
      {1.00390625f, 0x3f80},                      // 1 + 2^-8: halfway, ties to even (down)
      {1.01171875f, 0x3f82},                      // 1 + 3*2^-8: halfway, ties to even (up)
      {float_of(0x3f808001), 0x3f81},             // just above halfway
      {float_of(0x3f807fff), 0x3f80},             // just below halfway
      {float_of(0x3fffffff), 0x4000},             // carry into the exponent
      {0.0f, 0x0000}, {-0.0f, 0x8000}, {INFINITY, 0x7f80}, {-INFINITY, 0xff80},
      {big, 0x7f80}, {float_of(0x7f7f7fff), 0x7f7f},  // rounding past the largest finite gives inf
      // bf16 keeps f32's exponent range, so f32 subnormals round like any other value.
      {float_of(0x00010000), 0x0001}, {float_of(0x00008000), 0x0000}, {float_of(0x00018000), 0x0002},
      {float_of(0x80010000), 0x8001}});
  // NaN stays NaN even when its payload lives only in the low 16 bits (plain truncation gives inf).
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    uint16_t b = f32_to_bf16(float_of(nan));
    EXPECT_EQ(b & 0x7f80, 0x7f80) << std::hex << nan;
    EXPECT_NE(b & 0x007f, 0) << std::hex << nan;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << std::hex << nan;
  }
  expect_widening(bf16_to_f32, {{1.0f, 0x3f80}, {-2.0f, 0xc000}, {float_of(0x7f7f0000), 0x7f7f},
                                {std::ldexp(1.0f, -126), 0x0080}, {std::ldexp(1.0f, -133), 0x0001},
                                {-0.0f, 0x8000}, {-INFINITY, 0xff80}});
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
}

// Nearest-even rounding of f32 to bf16 decided in double from the two bracketing bf16 values.
uint16_t bf16_reference(float f) {
  uint32_t u = bits_of(f);
  uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  // Past the largest finite value the next step up is 2^128, which rounds to inf.
  double x = std::fabs(double(f)), dl = std::fabs(double(float_of(lo)));
  double dh = (hi & 0x7fffffffu) == 0x7f800000u ? std::ldexp(1.0, 128) : std::fabs(double(float_of(hi)));
  double el = x - dl, eh = dh - x;
  if (el < eh || (el == eh && ((lo >> 16) & 1) == 0)) return uint16_t(lo >> 16);
  return uint16_t(hi >> 16);
}

TEST(DType, Bf16MatchesReferenceOnRandomFloats) {
  Rng rng(11);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng.next_u32();
    if ((u & 0x7f800000u) == 0x7f800000u) continue;  // inf/NaN checked above
    float f = float_of(u);
    ASSERT_EQ(f32_to_bf16(f), bf16_reference(f)) << std::hex << u;
  }
}

TEST(DType, F16KnownBits) {
  const float tie = 1.0f + std::ldexp(1.0f, -11), big = std::numeric_limits<float>::max();
  expect_narrowing(f32_to_f16, {
      {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65519.0f, 0x7bff},
      {65520.0f, 0x7c00},  // halfway to 2^16: ties to even overflows
      {1e10f, 0x7c00}, {-1e10f, 0xfc00}, {big, 0x7c00}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
      {0.0f, 0x0000}, {-0.0f, 0x8000},
      {tie, 0x3c00}, {1.0f + 3 * std::ldexp(1.0f, -11), 0x3c02},  // ties to even
      {float_of(bits_of(tie) + 1), 0x3c01}, {float_of(0x3fffffff), 0x4000},
      // Subnormals (step 2^-24), ties to even, and the boundary with the normals.
      {std::ldexp(1.0f, -24), 0x0001}, {std::ldexp(1.0f, -25), 0x0000}, {std::ldexp(3.0f, -25), 0x0002},
      {std::ldexp(1.0f, -25) * 1.0001f, 0x0001}, {-std::ldexp(1.0f, -24), 0x8001},
      {std::ldexp(1023.0f, -24), 0x03ff}, {std::ldexp(1023.5f, -24), 0x0400}, {std::ldexp(1.0f, -14), 0x0400},
      {std::ldexp(1.0f, -30), 0x0000}, {float_of(0x00000001), 0x0000}, {-std::ldexp(1.0f, -30), 0x8000}});
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00000u, 0x7f802000u}) {
    uint16_t h = f32_to_f16(float_of(nan));
    EXPECT_EQ(h & 0x7c00, 0x7c00) << std::hex << nan;
    EXPECT_NE(h & 0x03ff, 0) << std::hex << nan;
  }
  expect_widening(f16_to_f32, {{1.0f, 0x3c00}, {65504.0f, 0x7bff}, {std::ldexp(1.0f, -24), 0x0001},
                               {-std::ldexp(1.0f, -24), 0x8001}, {std::ldexp(1023.0f, -24), 0x03ff},
                               {std::ldexp(1.0f, -15), 0x0200}, {std::ldexp(1.0f, -14), 0x0400},
                               {-2.0f, 0xc000}, {-0.0f, 0x8000}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00}});
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));
}

TEST(DType, F16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(uint16_t(h));
    bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    }
  }
}

// All finite positive f16 values in increasing order (bit patterns 0x0000..0x7bff are monotone).
double f16_value(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  return e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1024.0 + m, e - 25);
}

uint16_t f16_reference(float f) {
  uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  double x = std::fabs(double(f));
  if (x >= 65520.0) return sign | 0x7c00;
  uint16_t lo = 0, hi = 0x7bff;  // largest h with value <= x
  while (lo < hi) {
    uint16_t mid = uint16_t((lo + hi + 1) / 2);
    if (f16_value(mid) <= x) lo = mid;
    else hi = uint16_t(mid - 1);
  }
  if (lo == 0x7bff) return sign | lo;
  double el = x - f16_value(lo), eh = f16_value(uint16_t(lo + 1)) - x;
  if (el < eh || (el == eh && (lo & 1) == 0)) return sign | lo;
  return sign | uint16_t(lo + 1);
}

TEST(DType, F16MatchesReferenceOnRandomFloats) {
  Rng rng(12);
  for (int i = 0; i < 200000; ++i) {
    // Exponents from 2^-27 to 2^17 cover underflow, subnormals, normals and overflow.
    uint32_t u = rng.next_u32();
    uint32_t exp = 100 + (u >> 23) % 45;
    u = (u & 0x807fffffu) | exp << 23;
    float f = float_of(u);
    ASSERT_EQ(f32_to_f16(f), f16_reference(f)) << std::hex << u << " = " << f;
  }
}

// Exactly representable in every dtype (u8 included), so each conversion must be exact.
const std::vector<double> kCommon = {0, 1, 2, 3, 7, 100, 127, 128, 200, 255, 17, 64, 5};

void write_values(void* p, DType t, const std::vector<double>& v) {
  convert_elements(v.data(), DType::F64, p, t, int64_t(v.size()));
}

TEST(DType, ConvertElementsAllPairs) {
  int64_t n = int64_t(kCommon.size());
  for (DType st : kAllDTypes) {
    for (DType dt : kAllDTypes) {
      std::vector<unsigned char> src(size_t(n) * dtype_size(st)), dst(size_t(n) * dtype_size(dt));
      write_values(src.data(), st, kCommon);
      convert_elements(src.data(), st, dst.data(), dt, n);
      std::vector<double> back(kCommon.size());
      convert_elements(dst.data(), dt, back.data(), DType::F64, n);
      for (size_t i = 0; i < back.size(); ++i)
        ASSERT_EQ(back[i], kCommon[i]) << dtype_name(st) << " -> " << dtype_name(dt) << " element " << i;
    }
  }
}

TEST(DType, ConvertElementsEdgeCases) {
  // Floats to integers truncate toward zero.
  std::vector<float> f = {2.75f, -2.75f, 0.5f, -0.5f, 1e6f};
  std::vector<int32_t> i32(f.size());
  convert_elements(f.data(), DType::F32, i32.data(), DType::I32, int64_t(f.size()));
  EXPECT_EQ(i32, (std::vector<int32_t>{2, -2, 0, 0, 1000000}));
  // i64 <-> i32, including values a float would round.
  std::vector<int64_t> i64 = {INT32_MAX, INT32_MIN, -123456789, 16777217, 0};
  std::vector<int32_t> narrow(i64.size());
  convert_elements(i64.data(), DType::I64, narrow.data(), DType::I32, int64_t(i64.size()));
  EXPECT_EQ(narrow, (std::vector<int32_t>{INT32_MAX, INT32_MIN, -123456789, 16777217, 0}));
  std::vector<int64_t> wide(narrow.size());
  convert_elements(narrow.data(), DType::I32, wide.data(), DType::I64, int64_t(narrow.size()));
  EXPECT_EQ(wide, i64);
  // i64 beyond 2^53 survives an i64 -> i64 copy bit-exactly.
  std::vector<int64_t> big = {(int64_t(1) << 62) + 1, -(int64_t(1) << 60) - 3};
  std::vector<int64_t> big2(2);
  convert_elements(big.data(), DType::I64, big2.data(), DType::I64, 2);
  EXPECT_EQ(big2, big);
  // bf16 <-> f16 goes through f32; 1 + 2^-10 is exact in f16, rounds to 1 in bf16.
  std::vector<uint16_t> h = {f32_to_f16(1.0f + std::ldexp(1.0f, -10)), 0x7c00, 0x8000};
  std::vector<uint16_t> b(3);
  convert_elements(h.data(), DType::F16, b.data(), DType::BF16, 3);
  EXPECT_EQ(b, (std::vector<uint16_t>{0x3f80, 0x7f80, 0x8000}));
  // f64 to half types rounds once: 1 + 2^-8 + 2^-30 is above the bf16 halfway point, so it rounds
  // up, though rounding to f32 first would land exactly on the tie and then round down to 1.
  std::vector<double> d = {1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30),
                           1.0 + std::ldexp(1.0, -8) - std::ldexp(1.0, -30), 1.0 + std::ldexp(1.0, -8)};
  std::vector<uint16_t> db(3);
  convert_elements(d.data(), DType::F64, db.data(), DType::BF16, 3);
  EXPECT_EQ(db, (std::vector<uint16_t>{0x3f81, 0x3f80, 0x3f80}));
  std::vector<double> d16 = {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 1.0 + std::ldexp(1.0, -11)};
  std::vector<uint16_t> dh(2);
  convert_elements(d16.data(), DType::F64, dh.data(), DType::F16, 2);
  EXPECT_EQ(dh, (std::vector<uint16_t>{0x3c01, 0x3c00}));
  // Integers to bf16 also round once: 2^24 + 2^16 + 1 is above the tie between 2^24 and 2^24 + 2^17.
  std::vector<int32_t> ib = {(1 << 24) + (1 << 16) + 1, (1 << 24) + (1 << 16)};
  std::vector<uint16_t> ibb(2);
  convert_elements(ib.data(), DType::I32, ibb.data(), DType::BF16, 2);
  EXPECT_EQ(ibb, (std::vector<uint16_t>{0x4b81, 0x4b80}));
  // f64 NaN and inf to the half types.
  std::vector<double> special = {NAN, INFINITY, -INFINITY, 1e300};
  std::vector<uint16_t> sh(4), sb(4);
  convert_elements(special.data(), DType::F64, sh.data(), DType::F16, 4);
  convert_elements(special.data(), DType::F64, sb.data(), DType::BF16, 4);
  EXPECT_TRUE(std::isnan(f16_to_f32(sh[0])));
  EXPECT_EQ(sh[1], 0x7c00);
  EXPECT_EQ(sh[2], 0xfc00);
  EXPECT_EQ(sh[3], 0x7c00);
  EXPECT_TRUE(std::isnan(bf16_to_f32(sb[0])));
  EXPECT_EQ(sb[1], 0x7f80);
  EXPECT_EQ(sb[2], 0xff80);
  EXPECT_EQ(sb[3], 0x7f80);
  // Out-of-range floats saturate and NaN becomes 0 (a plain cast would be undefined behaviour).
  std::vector<float> wild = {NAN, 1e30f, -1e30f, INFINITY, -INFINITY, 300.0f, -5.5f};
  std::vector<int32_t> wi(wild.size());
  std::vector<int64_t> wl(wild.size());
  std::vector<uint8_t> wu(wild.size());
  convert_elements(wild.data(), DType::F32, wi.data(), DType::I32, int64_t(wild.size()));
  convert_elements(wild.data(), DType::F32, wl.data(), DType::I64, int64_t(wild.size()));
  convert_elements(wild.data(), DType::F32, wu.data(), DType::U8, int64_t(wild.size()));
  EXPECT_EQ(wi, (std::vector<int32_t>{0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 300, -5}));
  EXPECT_EQ(wl[0], 0);
  EXPECT_EQ(wl[1], INT64_MAX - 1023);  // the largest double below 2^63
  EXPECT_EQ(wl[2], INT64_MIN);
  EXPECT_EQ(wl[5], 300);
  EXPECT_EQ(wu, (std::vector<uint8_t>{0, 255, 0, 255, 0, 255, 0}));
}

// ---------------------------------------------------------------- shapes

TEST(Shape, Helpers) {
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(numel({3, 0, 5}), 0);
  EXPECT_EQ(numel({3, 5, 7}), 105);
  EXPECT_EQ(contiguous_strides({3, 5, 7}), (Shape{35, 7, 1}));
  EXPECT_EQ(contiguous_strides({}), Shape{});
  EXPECT_EQ(shape_str({2, 3, 4}), "[2, 3, 4]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(norm_axis(-1, 3, "t"), 2);
  EXPECT_EQ(norm_axis(0, 3, "t"), 0);
  EXPECT_ERROR(norm_axis(3, 3, "myop"), "myop: axis 3 out of range for rank 3");
  EXPECT_ERROR(norm_axis(-4, 3, "myop"), "axis -4");
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {7, 1}, "t"), (Shape{3, 7, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}, "t"), (Shape{2, 3}));
  EXPECT_ERROR(broadcast_shapes({3, 4}, {5}, "myop"), "myop: shapes [3, 4] and [5] do not broadcast");
  EXPECT_EQ(broadcast_strides({5, 1}, {1, 1}, {3, 5, 7}), (Shape{0, 1, 0}));
}

// ---------------------------------------------------------------- tensors

TEST(Tensor, Factories) {
  Tensor z = Tensor::zeros({3, 5});
  EXPECT_EQ(z.shape(), (Shape{3, 5}));
  EXPECT_EQ(z.strides(), (Shape{5, 1}));
  EXPECT_EQ(z.dtype(), DType::F32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_EQ(z.summary(), "f32[3, 5] cpu");
  EXPECT_EQ(z.to_double(), std::vector<double>(15, 0.0));
  EXPECT_EQ(Tensor::ones({7}, DType::I64).to_double(), std::vector<double>(7, 1.0));
  Tensor fb = Tensor::full({2, 3}, 1.5, DType::BF16);
  EXPECT_EQ(fb.nbytes(), 12u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fb.data<bf16>()[i].bits, 0x3fc0);
  EXPECT_EQ(Tensor::full({3}, -2.25, DType::F16).to_double(), std::vector<double>(3, -2.25));
  EXPECT_EQ(Tensor::full({4}, 200.0, DType::U8).data<uint8_t>()[3], 200);
  Tensor s = Tensor::scalar(2.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 2.5);
  EXPECT_EQ(Tensor::scalar(-7, DType::I32).item(), -7.0);
  Tensor fv = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(fv.data<float>()[5], 6.0f);
  EXPECT_EQ(Tensor::from_vector(std::vector<int32_t>{-1, 2}, {2}).dtype(), DType::I32);
  EXPECT_EQ(Tensor::from_vector(std::vector<int64_t>{int64_t(1) << 40}, {1}).data<int64_t>()[0], int64_t(1) << 40);
  Tensor dv = Tensor::from_vector(std::vector<double>{0.1, 0.2}, {1, 2});
  EXPECT_EQ(dv.dtype(), DType::F64);
  EXPECT_EQ(dv.data<double>()[0], 0.1);
  EXPECT_EQ(Tensor::arange(5).to_double(), (std::vector<double>{0, 1, 2, 3, 4}));
  Tensor ai = Tensor::arange(67, DType::I64);
  EXPECT_EQ(ai.dtype(), DType::I64);
  EXPECT_EQ(ai.data<int64_t>()[66], 66);
  EXPECT_EQ(Tensor::arange(0).numel(), 0);
  Tensor e = Tensor::empty({0, 3});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to_vector().empty());
  EXPECT_ERROR(Tensor::zeros({2, -1}), "negative dimension");
  EXPECT_ERROR(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), "from_vector: 3 values for shape [2, 2]");
}

TEST(Tensor, DataAccessErrors) {
  Tensor t = Tensor::zeros({2, 3});
  EXPECT_ERROR(t.data<int32_t>(), "tensor is f32, asked for i32");
  EXPECT_ERROR(t.item(), "has 6 elements, not 1");
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_ERROR(t.size(2), "axis 2 out of range");
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_ERROR(u.shape(), "undefined tensor");
  EXPECT_ERROR(u.detach(), "undefined tensor");
  EXPECT_EQ(u.summary(), "undefined");
  EXPECT_ERROR(check_defined(u, "myop", "x"), "myop: argument 'x' is an undefined tensor");
  EXPECT_ERROR(check_dtype(t, DType::I64, "myop", "idx"), "myop: argument 'idx' must be i64, got f32[2, 3] cpu");
  EXPECT_ERROR(check_rank(t, 3, "myop", "x"), "must have rank 3, got f32[2, 3] cpu");
}

TEST(Tensor, ContiguityAndViews) {
  Tensor t = Tensor::arange(105).view({3, 5, 7});
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.view({-1, 7}).shape(), (Shape{15, 7}));
  EXPECT_EQ(t.view({5, -1}).shape(), (Shape{5, 21}));
  EXPECT_EQ(t.view({-1}).shape(), (Shape{105}));
  Tensor v = t.view({15, 7});
  v.data<float>()[8] = -1.0f;  // views share storage
  EXPECT_EQ(t.data<float>()[8], -1.0f);
  // Size-1 dims may carry any stride and still be contiguous.
  EXPECT_TRUE(t.as_strided({3, 1, 35}, {35, 999, 1}, 0).is_contiguous());
  EXPECT_ERROR(t.view({-1, -1}), "more than one -1");
  EXPECT_ERROR(t.view({4, -1}), "cannot infer -1");
  EXPECT_ERROR(t.view({0, -1}), "cannot infer -1");
  EXPECT_ERROR(t.view({10, 10}), "view: shape [10, 10] does not match f32[3, 5, 7] cpu");
  EXPECT_ERROR(t.view({-2, 105}), "bad dimension");
  Tensor tr = t.as_strided({7, 15}, {1, 7}, 0);
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_ERROR(tr.view({105}), "not contiguous");
  // A contiguous view at an offset keeps its offset through view().
  Tensor tail = t.as_strided({2, 5}, {5, 1}, 95);
  EXPECT_EQ(tail.view({10}).to_double()[9], 104.0);
}

TEST(Tensor, AsStridedBounds) {
  Tensor t = Tensor::arange(12);  // 12 elements of storage
  EXPECT_EQ(t.as_strided({3, 4}, {4, 1}, 0).to_double()[11], 11.0);
  EXPECT_EQ(t.as_strided({4, 3}, {1, 4}, 0).to_double(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_EQ(t.as_strided({2}, {0}, 11).to_double(), (std::vector<double>{11, 11}));  // broadcast stride
  EXPECT_EQ(t.as_strided({3}, {-4}, 8).to_double(), (std::vector<double>{8, 4, 0}));  // negative stride
  EXPECT_EQ(t.as_strided({}, {}, 11).item(), 11.0);
  EXPECT_EQ(t.as_strided({0, 5}, {5, 1}, 100).numel(), 0);  // empty views read nothing
  EXPECT_ERROR(t.as_strided({3, 4}, {4, 1}, 1), "reaches outside storage of 12 elements");
  EXPECT_ERROR(t.as_strided({13}, {1}, 0), "reaches outside storage");
  EXPECT_ERROR(t.as_strided({}, {}, 12), "reaches outside storage");
  EXPECT_ERROR(t.as_strided({2}, {1}, -1), "reaches outside storage");
  EXPECT_ERROR(t.as_strided({3}, {-4}, 7), "reaches outside storage");
  EXPECT_ERROR(t.as_strided({3, 4}, {1}, 0), "differ in rank");
  EXPECT_ERROR(t.as_strided({-1}, {1}, 0), "negative dimension");
  // Bounds are in elements of the view's dtype: 12 f32 = 6 f64 slots.
  Tensor d = Tensor::zeros({6}, DType::F64);
  EXPECT_ERROR(d.as_strided({7}, {1}, 0), "outside storage of 6 elements");
}

// Reads a strided view element by element with plain index arithmetic (the reference for copy_).
std::vector<double> read_strided(const Tensor& t) {
  Tensor flat = t.as_strided({int64_t(t.impl().storage->nbytes / dtype_size(t.dtype()))}, {1}, 0).contiguous();
  std::vector<double> all = flat.to_double();
  std::vector<double> out;
  Shape idx(t.shape().size(), 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t off = t.offset();
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
    out.push_back(all[size_t(off)]);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

TEST(Tensor, CopyBetweenLayoutsAndDtypes) {
  for (const Shape& shape : {Shape{5}, Shape{3, 7}, Shape{3, 5, 13}, Shape{67, 129}, Shape{}}) {
    Tensor src = test::rand(shape, 3, -4.0, 4.0);
    std::vector<double> want = src.to_double();
    Tensor nc = test::noncontig(src);  // contiguous -> strided
    EXPECT_EQ(read_strided(nc), want) << shape_str(shape);
    Tensor back = Tensor::empty(shape);
    back.copy_(nc);  // strided -> contiguous
    EXPECT_EQ(back.to_double(), want);
    Tensor nc2 = test::noncontig(Tensor::zeros(shape));
    nc2.copy_(nc);  // strided -> strided
    EXPECT_EQ(read_strided(nc2), want);
    for (DType dt : {DType::BF16, DType::F16, DType::F64, DType::I32}) {
      std::vector<double> conv = src.to(dt).to_double();
      for (size_t i = 0; i < want.size(); ++i) {
        double r = dt == DType::BF16 ? bf16_to_f32(f32_to_bf16(float(want[i])))
                 : dt == DType::F16  ? f16_to_f32(f32_to_f16(float(want[i])))
                 : dt == DType::I32  ? std::trunc(want[i])
                                     : want[i];
        ASSERT_EQ(conv[i], r) << dtype_name(dt) << " element " << i;
      }
      Tensor ncd = test::noncontig(Tensor::zeros(shape, dt));
      ncd.copy_(nc);  // strided f32 -> strided other dtype
      EXPECT_EQ(read_strided(ncd), conv) << dtype_name(dt) << shape_str(shape);
      Tensor cd = Tensor::zeros(shape, dt);
      cd.copy_(ncd);  // strided -> contiguous, same dtype
      EXPECT_EQ(cd.to_double(), conv);
    }
  }
}

TEST(Tensor, CopyTransposedAndErrors) {
  Tensor a = test::rand({3, 5, 7}, 4);
  std::vector<double> av = a.to_double();
  Tensor at = a.as_strided({7, 3, 5}, {1, 35, 7}, 0);  // axes (2, 0, 1)
  Tensor c = at.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  for (int k = 0; k < 7; ++k)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j)
        ASSERT_EQ(c.data<float>()[(k * 3 + i) * 5 + j], float(av[size_t((i * 5 + j) * 7 + k)]));
  Tensor d = Tensor::zeros({3, 5}, DType::F64);
  EXPECT_ERROR(d.copy_(Tensor::zeros({5, 3})), "copy_: source f32[5, 3] cpu does not match destination f64[3, 5] cpu");
  Tensor big = test::rand({300, 301}, 5);  // large enough for the parallel contiguous path
  Tensor bigb = Tensor::empty({300, 301}, DType::BF16);
  bigb.copy_(big);
  std::vector<float> bv = big.to_vector();
  for (size_t i = 0; i < bv.size(); i += 97) ASSERT_EQ(bigb.data<bf16>()[i].bits, f32_to_bf16(bv[i]));
}

TEST(Tensor, FillStridedViews) {
  Tensor m = Tensor::zeros({5, 7});
  Tensor col = m.as_strided({5}, {7}, 3);  // column 3
  col.fill_(2.5);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) ASSERT_EQ(m.data<float>()[i * 7 + j], j == 3 ? 2.5f : 0.0f);
  Tensor hb = Tensor::zeros({4, 6}, DType::BF16);
  hb.as_strided({2, 3}, {12, 2}, 1).fill_(-1.0);  // rows 0, 2 and odd columns
  std::vector<double> hv = hb.to_double();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) ASSERT_EQ(hv[size_t(i * 6 + j)], (i % 2 == 0 && j % 2 == 1) ? -1.0 : 0.0);
  Tensor i64 = Tensor::zeros({3, 3}, DType::I64);
  i64.as_strided({3}, {4}, 0).fill_(9);  // the diagonal
  EXPECT_EQ(i64.to_double(), (std::vector<double>{9, 0, 0, 0, 9, 0, 0, 0, 9}));
  Tensor s = Tensor::scalar(0.0);
  s.fill_(4.0);
  EXPECT_EQ(s.item(), 4.0);
  Tensor big = Tensor::empty({1 << 17});
  big.fill_(3.0);  // parallel path
  std::vector<float> bv = big.to_vector();
  EXPECT_TRUE(std::all_of(bv.begin(), bv.end(), [](float x) { return x == 3.0f; }));
  big.zero_();
  EXPECT_EQ(big.to_vector()[(1 << 17) - 1], 0.0f);
}

TEST(Tensor, CloneDetachAndDtypeRoundTrip) {
  Tensor a = test::rand({3, 5}, 6);
  std::vector<double> av = a.to_double();
  Tensor c = a.clone();
  EXPECT_NE(c.impl().storage, a.impl().storage);
  c.data<float>()[0] = 42.0f;
  EXPECT_EQ(a.to_double(), av);  // the clone is independent
  Tensor nc = test::noncontig(a);
  Tensor ncc = nc.clone();
  EXPECT_TRUE(ncc.is_contiguous());
  EXPECT_EQ(ncc.offset(), 0);
  EXPECT_EQ(ncc.to_double(), av);

  Tensor p = test::param(test::rand({4}, 7));
  Tensor d = p.detach();
  EXPECT_EQ(d.impl().storage, p.impl().storage);
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  d.data<float>()[2] = -9.0f;  // writes through the shared storage
  EXPECT_EQ(p.data<float>()[2], -9.0f);
  Tensor dv = nc.detach();
  EXPECT_EQ(dv.strides(), nc.strides());
  EXPECT_EQ(dv.offset(), nc.offset());

  EXPECT_TRUE(a.to(DType::F32).same(a));
  EXPECT_TRUE(a.contiguous().same(a));
  EXPECT_EQ(a.to(DType::F64).to(DType::F32).to_double(), av);
  std::vector<double> hb = a.to(DType::BF16).to(DType::F32).to_double();
  for (size_t i = 0; i < av.size(); ++i) EXPECT_EQ(hb[i], bf16_to_f32(f32_to_bf16(float(av[i]))));
  Tensor ints = Tensor::from_vector(std::vector<int64_t>{-5, 0, 123456789012LL}, {3});
  EXPECT_EQ(ints.to(DType::I32).to(DType::I64).to_double()[1], 0.0);
  EXPECT_EQ(ints.to(DType::F64).to(DType::I64).data<int64_t>()[2], 123456789012LL);
}

TEST(Tensor, RequiresGradRules) {
  Tensor i = Tensor::zeros({3}, DType::I32);
  EXPECT_ERROR(i.set_requires_grad(true), "i32 tensors cannot have gradients");
  Tensor f = Tensor::zeros({3});
  EXPECT_TRUE(f.set_requires_grad(true).requires_grad());
  EXPECT_FALSE(f.set_requires_grad(false).requires_grad());
}

// ---------------------------------------------------------------- devices and allocator

TEST(Device, ParseAndStr) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("gpu"), Device::gpu(0));
  EXPECT_EQ(Device::parse("gpu:1"), Device::gpu(1));
  EXPECT_EQ(Device::parse("cuda:0"), Device::gpu(0));
  EXPECT_EQ(Device::parse("hip:3"), Device::gpu(3));
  EXPECT_EQ(Device::parse("cuda"), Device::gpu(0));
  EXPECT_EQ(Device::gpu(2).str(), "gpu:2");
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_NE(Device::gpu(0), Device::gpu(1));
  for (const char* bad : {"", "tpu", "gpu:", "gpu:x", "gpu:-1", "gpu:12345", "gpu:1a", "GPU", "cpu:0", " gpu"})
    EXPECT_ERROR(Device::parse(bad), "bad device");
}

TEST(Device, GpuInCpuBuild) {
  if (gpu_compiled()) GTEST_SKIP() << "this build has a GPU backend";
  EXPECT_EQ(gpu_device_count(), 0);
  Tensor t = Tensor::ones({3});
  EXPECT_ERROR(t.to(Device::gpu()), "built without GPU support");
  EXPECT_ERROR(Tensor::zeros({3}, DType::F32, Device::gpu(1)), "device gpu:1: zebra was built without GPU support");
  EXPECT_TRUE(t.to(Device::cpu()).same(t));
}

TEST(Allocator, LiveAndPeakCounters) {
  CpuAllocator a;
  EXPECT_EQ(a.stats().live_bytes, 0);
  void* p = a.allocate(1000);
  void* q = a.allocate(24);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CpuAllocator::kAlign, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % CpuAllocator::kAlign, 0u);
  std::memset(p, 1, 1000);
  AllocStats s = a.stats();
  EXPECT_EQ(s.live_bytes, 1024);
  EXPECT_EQ(s.peak_bytes, 1024);
  EXPECT_EQ(s.allocations, 2);
  a.deallocate(p, 1000);
  s = a.stats();
  EXPECT_EQ(s.live_bytes, 24);
  EXPECT_EQ(s.peak_bytes, 1024);
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_bytes, 24);
  void* r = a.allocate(100);
  EXPECT_EQ(a.stats().peak_bytes, 124);
  a.deallocate(r, 100);
  a.deallocate(q, 24);
  s = a.stats();
  EXPECT_EQ(s.live_bytes, 0);
  EXPECT_EQ(s.peak_bytes, 124);
  EXPECT_EQ(s.allocations, 3);
  void* z = a.allocate(0);  // a valid, freeable pointer
  EXPECT_NE(z, nullptr);
  a.deallocate(z, 0);
}

TEST(Allocator, TensorsReturnTheirBytes) {
  int64_t before = cpu_allocator().stats().live_bytes;
  {
    Tensor t = Tensor::zeros({1000});
    EXPECT_EQ(cpu_allocator().stats().live_bytes, before + 4000);
    Tensor v = t.view({10, 100});  // a view allocates nothing
    EXPECT_EQ(cpu_allocator().stats().live_bytes, before + 4000);
    t = Tensor();
    EXPECT_EQ(cpu_allocator().stats().live_bytes, before + 4000);  // v still holds the storage
  }
  EXPECT_EQ(cpu_allocator().stats().live_bytes, before);
}

// ---------------------------------------------------------------- Philox and Rng

TEST(Philox, Random123KnownAnswers) {
  using C = std::array<uint32_t, 4>;
  EXPECT_EQ(Philox::block({0, 0, 0, 0}, {0, 0}), (C{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox::block({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (C{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox::block({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (C{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamLayout) {
  // Word i of stream (seed, offset) is word i % 4 of block i / 4 with the offset in counter words 2-3.
  uint64_t seed = 0x123456789abcdefULL, off = 0xfedcba9876ULL;
  for (uint64_t i : {0ULL, 1ULL, 5ULL, 7ULL, (1ULL << 34) + 2}) {
    uint64_t blk = i / 4;
    auto r = Philox::block({uint32_t(blk), uint32_t(blk >> 32), uint32_t(off), uint32_t(off >> 32)},
                           {uint32_t(seed), uint32_t(seed >> 32)});
    EXPECT_EQ(Philox::bits(seed, off, i), r[i % 4]);
  }
  EXPECT_NE(Philox::bits(1, 0, 0), Philox::bits(2, 0, 0));
  EXPECT_NE(Philox::bits(1, 0, 0), Philox::bits(1, 1, 0));
  EXPECT_EQ(Philox::uniform(5, 0, 9), float(Philox::bits(5, 0, 9) >> 8) / 16777216.0f);
}

TEST(Philox, UniformAndNormalStatistics) {
  const int n = 100000;
  double s = 0, s2 = 0, lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    float u = Philox::uniform(42, 3, uint64_t(i));
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    lo = std::min(lo, double(u));
    hi = std::max(hi, double(u));
    s += u;
    s2 += double(u) * u;
  }
  EXPECT_NEAR(s / n, 0.5, 0.005);
  EXPECT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
  double m = 0, m2 = 0, m4 = 0;
  int beyond3 = 0;
  for (int i = 0; i < n; ++i) {
    double z = Philox::normal(42, 3, uint64_t(i));
    ASSERT_TRUE(std::isfinite(z));
    m += z;
    m2 += z * z;
    m4 += z * z * z * z;
    beyond3 += std::fabs(z) > 3;
  }
  EXPECT_NEAR(m / n, 0.0, 0.015);
  EXPECT_NEAR(std::sqrt(m2 / n - (m / n) * (m / n)), 1.0, 0.015);
  EXPECT_NEAR(m4 / n, 3.0, 0.15);        // Gaussian kurtosis
  EXPECT_NEAR(beyond3, 0.0027 * n, 60);  // two-sided 3-sigma tail
}

TEST(Philox, TensorsMatchElementwiseDraws) {
  // Sizes above the parallel grain, so several threads fill each tensor.
  Tensor u = Tensor::uniform({3, (1 << 15) + 7}, 77, -2.0, 3.0);
  std::vector<float> uv = u.to_vector();
  for (size_t i = 0; i < uv.size(); ++i)
    ASSERT_EQ(uv[i], float(-2.0 + 5.0 * double(Philox::uniform(77, 0, i)))) << i;
  Tensor g = Tensor::normal({(1 << 16) + 3}, 78, 0.5, 2.0);
  std::vector<float> gv = g.to_vector();
  for (size_t i = 0; i < gv.size(); ++i)
    ASSERT_EQ(gv[i], float(0.5 + 2.0 * double(Philox::normal(78, 0, i)))) << i;
  EXPECT_EQ(Tensor::uniform({5}, 1).to_vector(), Tensor::uniform({5}, 1).to_vector());
  EXPECT_NE(Tensor::uniform({5}, 1).to_vector(), Tensor::uniform({5}, 2).to_vector());
}

TEST(Rng, StateAndResume) {
  Rng a(9);
  EXPECT_EQ(a.seed(), 9u);
  EXPECT_EQ(a.offset(), 0u);
  uint32_t w0 = a.next_u32();
  EXPECT_EQ(w0, Philox::bits(9, 0, 0));
  EXPECT_EQ(a.offset(), 1u);
  a.next_u64();
  EXPECT_EQ(a.offset(), 3u);
  a.next_uniform();
  EXPECT_EQ(a.offset(), 4u);
  EXPECT_EQ(a.reserve(10), 4u);
  EXPECT_EQ(a.offset(), 14u);
  Rng b(9, a.offset());  // (seed, offset) is the whole state
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.next_u32(), b.next_u32());
  float u = Rng(9, 100).next_uniform();
  EXPECT_EQ(u, Philox::uniform(9, 0, 100));
  // next_u64 is made of the next two words.
  Rng c(9, 0);
  uint64_t w = c.next_u64();
  std::set<uint32_t> halves = {uint32_t(w >> 32), uint32_t(w)};
  EXPECT_EQ(halves, (std::set<uint32_t>{Philox::bits(9, 0, 0), Philox::bits(9, 0, 1)}));
}

TEST(Rng, NextBelowRangeAndBias) {
  Rng r(5);
  EXPECT_EQ(r.next_below(0), 0u);
  EXPECT_EQ(r.next_below(1), 0u);
  for (uint64_t n : {2ULL, 3ULL, 7ULL, 1000ULL, (1ULL << 63) + 1, ~0ULL}) {
    for (int i = 0; i < 2000; ++i) ASSERT_LT(r.next_below(n), n) << n;
  }
  // Chi-square over 6 buckets (5 degrees of freedom): 20.5 is the 0.1% critical value.
  const int draws = 60000;
  std::vector<int> count(6, 0);
  for (int i = 0; i < draws; ++i) count[size_t(r.next_below(6))]++;
  double chi2 = 0;
  for (int c : count) chi2 += (c - draws / 6.0) * (c - draws / 6.0) / (draws / 6.0);
  EXPECT_LT(chi2, 20.5);
  // With n = 3 * 2^62 a modulo reduction would give residue classes below 2^62 twice the mass:
  // values < 2^62 would appear 1/2 of the time instead of 1/3.
  uint64_t n = 3ULL << 62;
  int low = 0;
  for (int i = 0; i < 30000; ++i) low += r.next_below(n) < (1ULL << 62);
  EXPECT_NEAR(low / 30000.0, 1.0 / 3, 0.015);
}

// ---------------------------------------------------------------- thread pool

void expect_exact_cover(ThreadPool& pool, int64_t begin, int64_t end, int64_t grain) {
  int64_t n = std::max<int64_t>(end - begin, 0);
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int> chunks{0};
  std::atomic<int64_t> smallest{INT64_MAX};
  pool.parallel_for(begin, end, grain, [&](int64_t lo, int64_t hi) {
    ASSERT_LE(begin, lo);
    ASSERT_LT(lo, hi);
    ASSERT_LE(hi, end);
    chunks++;
    int64_t s = smallest.load();
    while (hi - lo < s && !smallest.compare_exchange_weak(s, hi - lo)) {
    }
    for (int64_t i = lo; i < hi; ++i) hits[size_t(i - begin)]++;
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "index " << begin + i;
  EXPECT_LE(chunks.load(), pool.num_threads());
  if (n > 0) {
    EXPECT_GE(smallest.load(), std::min(n, std::max<int64_t>(grain, 1)));
  } else {
    EXPECT_EQ(chunks.load(), 0);
  }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(5, false);
  EXPECT_EQ(pool.num_threads(), 5);
  for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 13, 64, 67, 1000, 100003})
    for (int64_t grain : {-1, 0, 1, 2, 3, 16, 1000, 1 << 20}) {
      SCOPED_TRACE(str("n ", n, " grain ", grain));
      expect_exact_cover(pool, 10, 10 + n, grain);
      expect_exact_cover(ThreadPool::global(), -n, 0, grain);
    }
  expect_exact_cover(pool, 5, 3, 1);  // empty range: fn never runs
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(4, false);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  pool.parallel_for(0, 4, 1, [&](int64_t, int64_t) {
    {
      std::lock_guard<std::mutex> lk(mu);
      ids.insert(std::this_thread::get_id());
    }
    // Every range waits for the others, which only works if they truly run concurrently.
    arrived++;
    for (int spin = 0; arrived.load() < 4 && spin < 2000000; ++spin) std::this_thread::yield();
  });
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(arrived.load(), 4);
  EXPECT_TRUE(ids.count(std::this_thread::get_id()));  // the caller runs the first range
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(4, false);
  std::vector<std::atomic<int>> hits(40 * 40);
  std::atomic<int> foreign{0};
  pool.parallel_for(0, 40, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      std::thread::id me = std::this_thread::get_id();
      pool.parallel_for(0, 40, 1, [&](int64_t a, int64_t b) {
        if (std::this_thread::get_id() != me) foreign++;
        for (int64_t j = a; j < b; ++j) hits[size_t(i * 40 + j)]++;
      });
      parallel_for(0, 40, 1, [&](int64_t a, int64_t b) {  // the global pool, also inline
        if (std::this_thread::get_id() != me) foreign++;
      });
    }
  });
  EXPECT_EQ(foreign.load(), 0);
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, ExceptionsReachTheCaller) {
  ThreadPool pool(4, false);
  for (int64_t bad : {0, 1, 2, 3}) {  // range 0 runs on the caller, the others on workers
    try {
      pool.parallel_for(0, 4, 1, [&](int64_t lo, int64_t hi) {
        if (lo <= bad && bad < hi) fail("boom in range ", bad);
      });
      ADD_FAILURE() << "no exception for range " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), str("boom in range ", bad));
    }
    std::atomic<int64_t> sum{0};  // the pool still works
    pool.parallel_for(0, 1000, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  }
  EXPECT_THROW(pool.parallel_for(0, 100, 1, [](int64_t, int64_t) { throw std::logic_error("every range"); }),
               std::logic_error);
  std::atomic<int> ran{0};
  pool.parallel_for(0, 8, 1, [&](int64_t lo, int64_t hi) { ran += int(hi - lo); });
  EXPECT_EQ(ran.load(), 8);
}

TEST(ThreadPool, ConcurrentCallersBothComplete) {
  for (ThreadPool* pool : {&ThreadPool::global(), static_cast<ThreadPool*>(nullptr)}) {
    ThreadPool own(4, false);
    ThreadPool& p = pool ? *pool : own;
    std::vector<int64_t> totals(2, 0);
    auto work = [&](int who) {
      for (int rep = 0; rep < 300; ++rep) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(257 + who));
        p.parallel_for(0, 257 + who, 3, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) hits[size_t(i)]++;
        });
        for (auto& h : hits) totals[size_t(who)] += h.load();
      }
    };
    std::thread t0(work, 0), t1(work, 1);
    t0.join();
    t1.join();
    EXPECT_EQ(totals[0], 300 * 257);
    EXPECT_EQ(totals[1], 300 * 258);
  }
}

TEST(ThreadPool, GlobalPoolDescribesItself) {
  ThreadPool& g = ThreadPool::global();
  EXPECT_GE(g.num_threads(), 1);
  EXPECT_NE(g.describe().find("threads"), std::string::npos);
  EXPECT_GE(physical_core_count(), 1);
  EXPECT_NE(blas_description().find("OpenBLAS"), std::string::npos);
}

}  // namespace
}  // namespace zebra
