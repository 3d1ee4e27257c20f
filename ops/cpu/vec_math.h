// Vector kernels for the transcendental and reduction loops the compiler will not vectorise on
// its own (glibc's expf is a scalar call; strict IEEE order forbids reassociating a running sum).
// Written with GCC/clang vector extensions: 16 floats per step, which is one AVX-512 register
// and two AVX2 ones, so one source serves both.
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace zebra::cpu {

using f32x16 = float __attribute__((vector_size(64)));
using f64x8 = double __attribute__((vector_size(64)));
using i32x16 = int32_t __attribute__((vector_size(64)));
constexpr int64_t kVec = 16;

inline f32x16 vload(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, f32x16 v) { std::memcpy(p, &v, sizeof v); }
inline f32x16 vsplat(float x) { return f32x16{} + x; }

// e^x: Cephes' expf polynomial, within 2 ulp over the whole float range, with IEEE behaviour at
// the edges (exp(-inf) = 0, exp(+inf) = inf, NaN propagates, gradual underflow). One body for a
// float (loops over it still auto-vectorise) and for f32x16.
template <class V>
inline V exp_poly(V x) {
  constexpr bool vec = !std::is_same_v<V, float>;
  using I = std::conditional_t<vec, i32x16, int32_t>;
  // Vectors let NaN flow through the arithmetic (the hardware's float-to-int conversion of NaN is
  // harmless there); the scalar path keeps it away from the conversion, which C++ leaves undefined.
  V c = x;
  if constexpr (!vec) c = x != x ? 0.0f : x;
  c = c < -150.0f ? V{} - 150.0f : c;
  c = c > 150.0f ? V{} + 150.0f : c;
  const V n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const V r = (c - n * 0.693359375f) - n * -2.12194440e-4f;              // c - n ln2, two-part ln2
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two factors so n in [-150, 150] never leaves the normal exponent range of each.
  I ni;
  if constexpr (vec) ni = __builtin_convertvector(n, i32x16);
  else ni = int32_t(n);
  const I n1 = ni / 2, n2 = ni - n1;
  V y;
  if constexpr (vec) y = p * (f32x16)((n1 + 127) << 23) * (f32x16)((n2 + 127) << 23);
  else y = p * std::bit_cast<float>((n1 + 127) << 23) * std::bit_cast<float>((n2 + 127) << 23);
  if constexpr (vec) return y;
  else return x != x ? x : y;
}

inline f32x16 vexp(f32x16 x) { return exp_poly(x); }
inline float exp_fast(float x) { return exp_poly(x); }
// 1 / d: AVX-512's 14-bit reciprocal estimate refined by one Newton step (relative error ~2^-26,
// below f32 rounding) is cheaper than a full-width division; other targets divide.
inline f32x16 vrecip(f32x16 d) {
#if defined(__AVX512F__)
  f32x16 r = (f32x16)_mm512_rcp14_ps((__m512)d);
  r = r * (2.0f - d * r);
  return d == __builtin_inff() ? vsplat(0.0f) : r;  // the Newton step would turn 1/inf into NaN
#else
  return 1.0f / d;
#endif
}
inline f32x16 vsigmoid(f32x16 x) { return vrecip(1.0f + vexp(-x)); }
inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// y[i] = f(x[i]) where f maps a vector to a vector (and is applied to a padded tail too).
template <class F>
inline void vmap(const float* x, float* y, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    __builtin_prefetch(x + i + 1024);  // 4 KiB ahead: keeps loads in flight while the lanes compute
    vstore(y + i, f(vload(x + i)));
  }
  if (i < n) {
    float buf[kVec] = {};
    std::memcpy(buf, x + i, size_t(n - i) * 4);
    f32x16 r = f(vload(buf));
    std::memcpy(y + i, &r, size_t(n - i) * 4);
  }
}

// y[i] = f(a[i], b[i]).
template <class F>
inline void vmap2(const float* a, const float* b, float* y, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    __builtin_prefetch(a + i + 1024);
    __builtin_prefetch(b + i + 1024);
    vstore(y + i, f(vload(a + i), vload(b + i)));
  }
  if (i < n) {
    float ba[kVec] = {}, bb[kVec] = {};
    std::memcpy(ba, a + i, size_t(n - i) * 4);
    std::memcpy(bb, b + i, size_t(n - i) * 4);
    f32x16 r = f(vload(ba), vload(bb));
    std::memcpy(y + i, &r, size_t(n - i) * 4);
  }
}

// Sum over i < n of f(i-th vector of inputs) in double: 16 lanes accumulate in f64 and are added
// in a fixed order, so the result is deterministic and as accurate as a serial double sum.
// load(i) returns the f32 vector for elements [i, i+16); the tail is padded with `pad` values
// whose contribution is masked out.
// `ahead` (optional) is the stream to prefetch 4 KiB in front of.
template <class Load>
inline double vsum(int64_t n, Load&& load, const float* ahead = nullptr) {
  f64x8 lo{}, hi{};
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    if (ahead) __builtin_prefetch(ahead + i + 1024);
    f32x16 v = load(i);
    lo += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), f64x8);
    hi += __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), f64x8);
  }
  double s = 0.0;
  for (int j = 0; j < 8; ++j) s += lo[j] + hi[j];
  if (i < n) {
    f32x16 v = load(i);  // callers' loaders pad past n (see tail_load)
    for (int64_t j = 0; j < n - i; ++j) s += double(v[j]);
  }
  return s;
}

// Loads x[i, i+16) with zeros past n.
inline f32x16 tail_load(const float* x, int64_t i, int64_t n) {
  if (i + kVec <= n) return vload(x + i);
  float buf[kVec] = {};
  std::memcpy(buf, x + i, size_t(n - i) * 4);
  return vload(buf);
}

inline double sum_f32(const float* x, int64_t n) {
  return vsum(n, [&](int64_t i) { return tail_load(x, i, n); }, x);
}
inline double dot_f32(const float* a, const float* b, int64_t n) {
  return vsum(n, [&](int64_t i) { return tail_load(a, i, n) * tail_load(b, i, n); }, a);
}
// sum exp((x - shift) * scale)
inline double sum_exp(const float* x, int64_t n, float shift, float scale) {
  return vsum(n, [&](int64_t i) { return vexp((tail_load(x, i, n) - shift) * scale); }, x);
}

// max(x[0..n)), skipping NaNs; -inf for n == 0.
inline float max_f32(const float* x, int64_t n) {
  const float ninf = -__builtin_inff();
  f32x16 m = vsplat(ninf);
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    __builtin_prefetch(x + i + 1024);
    f32x16 v = vload(x + i);
    m = v > m ? v : m;
  }
  float r = ninf;
  for (int j = 0; j < kVec; ++j) r = m[j] > r ? m[j] : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

}  // namespace zebra::cpu
