// Transcendentals the compiler can vectorise (glibc's expf is a scalar call): Cephes' expf
// polynomial, within 2 ulp over the whole float range, with IEEE behaviour at the edges
// (exp(-inf) = 0, exp(+inf) = inf, NaN propagates, gradual underflow).
#pragma once
#include <bit>
#include <cstdint>

namespace zebra::cpu {

inline float exp_fast(float x) {
  const bool nan = x != x;
  float c = nan ? 0.0f : x;
  c = c < -150.0f ? -150.0f : (c > 150.0f ? 150.0f : c);
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;              // c - n ln2, two-part ln2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two factors so n in [-150, 150] never leaves the normal exponent range of each.
  const int32_t ni = int32_t(n), n1 = ni / 2, n2 = ni - n1;
  const float s1 = std::bit_cast<float>((n1 + 127) << 23), s2 = std::bit_cast<float>((n2 + 127) << 23);
  const float y = p * s1 * s2;
  return nan ? x : y;
}

inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

}  // namespace zebra::cpu
